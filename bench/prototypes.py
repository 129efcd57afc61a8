"""Bench-only prototypes of product changes, applied by monkeypatching (product code is
untouched). Each one is checked to produce exactly what the product produces.

keyboard       bot.keyboards.question_keyboard without aiogram's InlineKeyboardBuilder.
               The builder deep-copies its whole markup (pydantic models) on every
               `button()` and again in `adjust()` and `as_markup()` — O(buttons²)
               `copy.deepcopy` calls of InlineKeyboardButton models, ~0.25 ms per 6-button
               keyboard. The prototype builds the same rows of InlineKeyboardButton directly.
builder-keyboard  the reverse: question_keyboard as it was until 2026-11-23 17:56 (built
               with aiogram's InlineKeyboardBuilder), to measure before/after on one machine
               state now that the product builds keyboards directly.
lean-core      merged into the product at 18:18 (state S2, storage/answers.py): the
               answer path's statements built once, run as Core on the session's connection.
thread-session (answers only) the handlers' AsyncSession replaced by a session that runs
               each statement with a *sync* SQLAlchemy Session (pysqlite, same pragmas) on
               one dedicated DB thread: one thread round trip per statement instead of
               aiosqlite's 3-4 (cursor, execute, fetchall, close), begin/commit in the same
               thread. Applied by building the dispatcher with replaced Services.sessions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from itertools import chain, repeat
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session, sessionmaker

import bot.keyboards
import bot.middlewares
import bot.questions
from bot.callbacks import AnswerCb
from bot.texts import t
from storage.db import _sqlite_on_connect
from surveys.answers import SKIP
from surveys.loader import load_survey
from surveys.model import Question, QuestionKind, Survey

PROTOTYPES = ("keyboard", "builder-keyboard", "thread-session")
T = TypeVar("T")


def fast_question_keyboard(
    survey: Survey, question: Question, dispatch_id: int, locale: str
) -> InlineKeyboardMarkup:
    """Same markup as bot.keyboards.question_keyboard, built without the builder."""
    match question.kind:
        case QuestionKind.RATING:
            labels = [(f"{value} ⭐", value) for value in range(1, 6)]
            sizes: tuple[int, ...] = (5,)
        case QuestionKind.NPS:
            labels = [(str(value), value) for value in range(11)]
            sizes = (6, 5)
        case QuestionKind.EMOTION:
            labels = [
                (f"{emotion.emoji} {survey.text(emotion.label, locale)}", index)
                for index, emotion in enumerate(survey.emotions)
            ]
            sizes = (2,)
        case QuestionKind.CHOICE:
            texts = [survey.text(o.label, locale) for o in question.options]
            labels = list(zip(texts, range(len(texts)), strict=True))
            sizes = (2 if max(len(text) for text in texts) <= 16 else 1,)
        case _:  # TEXT: the Skip button
            labels = [(t(locale, "skip"), SKIP)]
            sizes = (8,)
    buttons = [
        InlineKeyboardButton(
            text=label, callback_data=AnswerCb(d=dispatch_id, q=question.id, v=value).pack()
        )
        for label, value in labels
    ]
    rows, start = [], 0
    for size in chain(sizes, repeat(sizes[-1])):
        if start >= len(buttons):
            break
        rows.append(buttons[start : start + size])
        start += size
    return InlineKeyboardMarkup(inline_keyboard=rows)


def builder_question_keyboard(
    survey: Survey, question: Question, dispatch_id: int, locale: str
) -> InlineKeyboardMarkup:
    """bot.keyboards.question_keyboard before 2026-11-23 17:56, verbatim."""
    builder = InlineKeyboardBuilder()

    def add(label: str, value: int) -> None:
        builder.button(text=label, callback_data=AnswerCb(d=dispatch_id, q=question.id, v=value))

    match question.kind:
        case QuestionKind.RATING:
            for value in range(1, 6):
                add(f"{value} ⭐", value)
            builder.adjust(5)
        case QuestionKind.NPS:
            for value in range(11):
                add(str(value), value)
            builder.adjust(6, 5)
        case QuestionKind.EMOTION:
            for index, emotion in enumerate(survey.emotions):
                add(f"{emotion.emoji} {survey.text(emotion.label, locale)}", index)
            builder.adjust(2)
        case QuestionKind.CHOICE:
            labels = [survey.text(o.label, locale) for o in question.options]
            for index, label in enumerate(labels):
                add(label, index)
            builder.adjust(2 if max(len(label) for label in labels) <= 16 else 1)
        case QuestionKind.TEXT:
            add(t(locale, "skip"), SKIP)
    return builder.as_markup()  # type: ignore[return-value]


def check_keyboard(candidate: Callable[..., InlineKeyboardMarkup] | None = None) -> int:
    """Every question of every bundled template, both locales: identical markup."""
    checked = 0
    for name in ("cafe", "online_shop", "lean"):
        survey = load_survey(name)
        for wave in survey.waves:
            for question in wave.questions:
                for locale in ("en", "ru"):
                    for dispatch_id in (1, 987_654_321):
                        old = bot.keyboards.question_keyboard(
                            survey, question, dispatch_id, locale
                        )
                        new = (candidate or fast_question_keyboard)(
                            survey, question, dispatch_id, locale
                        )
                        if old.model_dump() != new.model_dump():
                            raise AssertionError(f"{name}/{question.id}/{locale} differs")
                        checked += 1
    return checked


# --------------------------------------------------------------------------- thread-session


class ThreadSessions:
    """A stand-in for async_sessionmaker: sessions running on one DB thread."""

    def __init__(self, database: Path) -> None:
        self.engine = create_engine(
            f"sqlite+pysqlite:///{database}", connect_args={"check_same_thread": False}
        )
        event.listen(self.engine, "connect", _sqlite_on_connect)
        self.factory = sessionmaker(self.engine, expire_on_commit=False)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db")

    def __call__(self) -> ThreadSession:
        return ThreadSession(self.factory(), self.executor)

    def close(self) -> None:
        self.executor.submit(self.engine.dispose).result()
        self.executor.shutdown()


class ThreadSession:
    """What the handlers use of AsyncSession; every call is one hop to the DB thread."""

    def __init__(self, sync: Session, executor: ThreadPoolExecutor) -> None:
        self.sync = sync
        self.executor = executor

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def get_bind(self) -> Any:
        return self.sync.get_bind()

    def _execute(self, statement: Any, params: Any) -> Any:
        result = self.sync.execute(statement, params)
        # Rows are read in the DB thread; DML results keep their rowcount.
        return result.freeze()() if getattr(result, "returns_rows", True) else result

    async def execute(self, statement: Any, params: Any = None, **_: Any) -> Any:
        return await self._run(self._execute, statement, params)

    async def scalar(self, statement: Any, params: Any = None, **_: Any) -> Any:
        return (await self.execute(statement, params)).scalar()

    async def scalars(self, statement: Any, params: Any = None, **_: Any) -> Any:
        return (await self.execute(statement, params)).scalars()

    def _execute_core(self, statement: Any, params: Any) -> Any:
        result = self.sync.connection().execute(statement, params)
        return result.freeze()() if result.returns_rows else result

    async def connection(self) -> _ThreadConnection:
        return _ThreadConnection(self)

    def begin(self) -> _Transaction:
        return _Transaction(self)

    async def __aenter__(self) -> ThreadSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._run(self.sync.close)


class _ThreadConnection:
    """`await session.connection()` for lean-core: Core execution, one hop per statement."""

    def __init__(self, session: ThreadSession) -> None:
        self.session = session
        self.dialect = session.sync.get_bind().dialect

    async def execute(self, statement: Any, params: Any = None) -> Any:
        return await self.session._run(self.session._execute_core, statement, params)


class _Transaction:
    def __init__(self, session: ThreadSession) -> None:
        self.session = session

    async def __aenter__(self) -> ThreadSession:
        self.session.sync.begin()  # no I/O until the first statement
        return self.session

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        sync = self.session.sync
        await self.session._run(sync.commit if kind is None else sync.rollback)


# ------------------------------------------------ one hop per update (DB-only microbench)


class InlineSession:
    """Product storage coroutines run inline on a sync Session: their awaits never suspend,
    so a whole update's statements run in one call on the DB thread."""

    def __init__(self, sync: Session) -> None:
        self.sync = sync

    def get_bind(self) -> Any:
        return self.sync.get_bind()

    async def execute(self, statement: Any, params: Any = None, **_: Any) -> Any:
        return self.sync.execute(statement, params)

    async def connection(self) -> Any:
        return _InlineConnection(self.sync.connection())


class _InlineConnection:
    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.dialect = connection.dialect

    async def execute(self, statement: Any, params: Any = None) -> Any:
        return self.connection.execute(statement, params)


def run_inline(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("the coroutine suspended: it does real I/O")


def apply(names: list[str]) -> list[str]:
    applied = []
    for name in names:
        if name == "thread-session":
            applied.append(name)  # applied by bench.answers when it builds the dispatcher
        elif name == "builder-keyboard":
            check_keyboard(builder_question_keyboard)
            bot.questions.question_keyboard = builder_question_keyboard  # type: ignore[assignment]
            applied.append(name)
        elif name == "keyboard":
            check_keyboard()
            # render() looks the name up in bot.questions' namespace.
            bot.questions.question_keyboard = fast_question_keyboard  # type: ignore[assignment]
            applied.append(name)
        elif name:
            raise SystemExit(f"unknown prototype {name!r}; known: {PROTOTYPES}")
    return applied
