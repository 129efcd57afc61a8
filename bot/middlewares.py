"""One transaction per update, committed before anything is said to Telegram.

Telegram delivers updates at least once, so the update id is recorded in the same
transaction as the update's effect: a replay finds it and changes nothing, except that
what the first delivery may not have said is said again (`on_replay`: the next question of
an answer committed just before a crash). Replies are collected while the handler runs and
sent only after the commit (bot.reply_sender), so no transaction is held open across a
Telegram call, and a handler retried after a transient database error sends nothing twice.

An update is confirmed to Telegram only once its effect is stored: a transient database
error (locked, refused, connection lost) is retried with backoff for as long as
`db_patience` allows (no limit in polling mode, where waiting keeps the getUpdates offset
on this update), and then `UpdateNotStored` is raised so the webhook answers non-2xx and
Telegram delivers the update again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.types import TelegramObject, Update, User
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.reply_sender import Call, ReplySender
from bot.roles import Role
from bot.texts import pick_locale
from storage.customers import chosen_locale
from storage.db import transient_db_error
from storage.updates import claim_update, mark_replied, was_replied

log = logging.getLogger(__name__)

DB_FIRST_BACKOFF = 0.1  # seconds; doubled after each transient error, with jitter
DB_MAX_BACKOFF = 15.0
OnSent = Callable[[Any], Awaitable[None]]
AfterCommit = Callable[[Bot], Awaitable[None]]
# Told each update's outcome (handled, unhandled, duplicate, failed, not_stored) and the
# result, after the commit: the composition root counts them for /metrics.
Observer = Callable[[str, Any], None]
# Called, in a read-only transaction, for an update handled before: adds what its first
# handling may not have got out (the next question when a crash came before the reply).
OnReplay = Callable[[AsyncSession, Update, "Replies", dict[str, Any]], Awaitable[None]]
_REPLAYED = object()  # the update was handled before


class UpdateNotStored(Exception):
    """A transient database error outlasted the patience: the update must not be
    confirmed to Telegram (the webhook answers 503), so that it is delivered again."""


def _ignore(_outcome: str, _result: Any) -> None:
    return None


@dataclass
class Replies:
    """Bot API calls a handler wants made once its transaction has committed."""

    calls: list[Call] = field(default_factory=list)
    # Work that needs more than a call and a callback (several sends, each failing on its
    # own, settled in its own short transaction): run after the calls, also post-commit.
    jobs: list[AfterCommit] = field(default_factory=list)

    def add(
        self,
        method: TelegramMethod[Any],
        on_sent: OnSent | None = None,
        *,
        question_of: tuple[int, str] | None = None,
    ) -> None:
        """`question_of`: the (dispatch, question) this sends; should it never reach the
        customer, the outbox asks it again."""
        self.calls.append(Call(method, on_sent, question_of))

    def after(self, job: AfterCommit) -> None:
        self.jobs.append(job)

    @property
    def answers_callback(self) -> bool:
        return any(isinstance(call.method, AnswerCallbackQuery) for call in self.calls)

    async def flush(self, bot: Bot, sender: ReplySender | None = None) -> None:
        await (sender or _DIRECT).send(bot, self.calls)
        for job in self.jobs:
            try:
                await job(bot)
            except Exception:  # the update is committed: one job's bug must not stop others
                log.exception("a job after the commit failed")


_DIRECT = ReplySender()


class ReplyLedger:
    """The updates whose replies were made. Remembered here at once and written to
    `processed_updates.replied_at` with a later update's transaction, once a second (or
    by `save` at shutdown), so the happy path costs no transaction of its own; only a
    crash within a second of a reply, before Telegram saw the offset move past its
    update, leaves a replay to ask that question twice."""

    def __init__(self, memory: int = 10_000, every: float = 1.0) -> None:
        self.memory = memory
        self.every = every
        self._next_write = 0.0
        self._recent: dict[int, None] = {}  # insertion-ordered: the oldest goes first
        self._unsaved: dict[int, None] = {}

    def replied(self, update_id: int) -> None:
        self._recent[update_id] = None
        self._unsaved[update_id] = None
        if len(self._recent) > self.memory:
            del self._recent[next(iter(self._recent))]

    def knows(self, update_id: int) -> bool:
        return update_id in self._recent

    def unsaved(self) -> list[int]:
        return list(self._unsaved)

    def due(self) -> list[int]:
        """The updates to write now: at most once every `every` seconds, so that a busy
        bot writes one statement a second, not one per update."""
        if not self._unsaved or time.monotonic() < self._next_write:
            return []
        self._next_write = time.monotonic() + self.every
        return list(self._unsaved)

    def saved(self, update_ids: list[int]) -> None:
        for update_id in update_ids:
            self._unsaved.pop(update_id, None)

    async def save(self, sessions: async_sessionmaker[AsyncSession], now: datetime) -> None:
        ids = self.unsaved()
        if not ids:
            return
        try:
            async with sessions.begin() as session:
                await mark_replied(session, ids, now)
        except Exception as error:  # a later replay may then ask once more: no loss
            log.warning("could not record %d updates as replied: %r", len(ids), error)
            return
        self.saved(ids)


class UpdateMiddleware(BaseMiddleware):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime],
        owner_ids: frozenset[int],
        staff_ids: frozenset[int],
        default_locale: str,
        observe: Observer | None = None,
        sender: ReplySender | None = None,
        db_patience: float | None = None,
        on_replay: OnReplay | None = None,
        ledger: ReplyLedger | None = None,
    ) -> None:
        self.ledger = ledger or ReplyLedger()
        self.sessions = sessions
        self.sender = sender or ReplySender()
        self.db_patience = db_patience  # None: retry for as long as it takes
        self.on_replay = on_replay
        self.clock = clock
        self.owner_ids = owner_ids
        self.staff_ids = staff_ids
        self.default_locale = default_locale
        self.observe = observe or _ignore

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        user: User | None = data.get("event_from_user")
        data["role"] = self._role(user)
        data["locale"] = data.get("team_locale") or pick_locale(
            user.language_code if user else None, self.default_locale
        )
        started = time.monotonic()
        attempt = 0
        while True:
            replies = Replies()
            data["replies"] = replies
            try:
                result = await self._in_transaction(handler, event, data)
                break
            except Exception as error:
                if not transient_db_error(error):  # a bug must not leave a button spinning
                    return await self._failed(event, data, error)
                attempt += 1
                delay = min(DB_MAX_BACKOFF, DB_FIRST_BACKOFF * 2 ** (attempt - 1))
                delay *= random.uniform(0.75, 1.25)
                waited = time.monotonic() - started
                if self.db_patience is not None and waited + delay > self.db_patience:
                    self.observe("not_stored", None)
                    log.error(
                        "update %s not stored after %.1f s of database errors, left for "
                        "Telegram to deliver again: %s", event.update_id, waited, _kind(error),
                    )  # fmt: skip
                    raise UpdateNotStored(str(error)) from error
                log.warning(
                    "update %s: database error, again in %.2f s: %s", event.update_id,
                    delay, _kind(error),
                )  # fmt: skip
                await asyncio.sleep(delay)
        bot: Bot = data["bot"]
        await replies.flush(bot, self.sender)
        if event.callback_query is not None and not replies.answers_callback:
            await Replies([Call(event.callback_query.answer())]).flush(bot, self.sender)
        self.ledger.replied(event.update_id)
        if result is _REPLAYED:
            self.observe("duplicate", None)
            return UNHANDLED
        self.observe("unhandled" if result is UNHANDLED else "handled", result)
        return result

    async def _in_transaction(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: Update,
        data: dict[str, Any],
    ) -> Any:
        now = self.clock()
        replied = self.ledger.due()
        async with self.sessions() as session, session.begin():
            if replied:
                await mark_replied(session, replied, now)
            if await claim_update(session, event.update_id, now):
                data["session"] = session
                data["now"] = now
                user: User | None = data.get("event_from_user")
                if user is not None and event.callback_query is None:
                    # A language the person chose (/language) beats Telegram's
                    # language_code. Not looked up for a tap: its handler reads the
                    # customer's row anyway (a tap on a question is the busiest path).
                    data["locale"] = await chosen_locale(session, user.id) or data["locale"]
                result = await handler(event, data)
            else:
                log.info("update %s was handled before: not handled again", event.update_id)
                result = _REPLAYED
                if self.on_replay is not None and not await self._replied(session, event):
                    await self.on_replay(session, event, data["replies"], data)
        self.ledger.saved(replied)
        return result

    async def _replied(self, session: AsyncSession, event: Update) -> bool:
        return self.ledger.knows(event.update_id) or await was_replied(session, event.update_id)

    async def _failed(self, event: Update, data: dict[str, Any], error: Exception) -> Any:
        """Nothing was committed. The log says which update and why, never what it holds
        (names, usernames, texts: a customer's /forget cannot reach into log files); a
        database error's message carries the statement's values, so only its kind is
        logged, while a bug keeps its traceback."""
        self.observe("failed", None)
        try:
            kind = event.event_type
        except LookupError:  # a kind of update aiogram does not know
            kind = "unknown"
        if isinstance(error, DBAPIError):
            log.error(
                "update %s (%s) failed, nothing stored: %s", event.update_id, kind, _kind(error)
            )
        else:
            log.error(
                "update %s (%s) failed, nothing stored: %s",
                event.update_id, kind, type(error).__name__, exc_info=error,
            )  # fmt: skip
        if event.callback_query is not None:
            answer = Replies([Call(event.callback_query.answer())])
            await answer.flush(data["bot"], self.sender)
        return UNHANDLED

    def _role(self, user: User | None) -> Role:
        if user is None:
            return Role.CUSTOMER
        if user.id in self.owner_ids:
            return Role.OWNER
        if user.id in self.staff_ids:
            return Role.STAFF
        return Role.CUSTOMER


def _kind(error: Exception) -> str:
    """`OperationalError (database is locked)`: the driver's error class, and its message
    only when it is one of the few that carry no values."""
    orig = error.orig if isinstance(error, DBAPIError) else error
    name = type(orig).__name__ if orig is not None else type(error).__name__
    message = str(orig).splitlines()[0] if orig is not None else ""
    return f"{name} ({message})" if message in _VALUELESS else name


_VALUELESS = frozenset({"database is locked", "database table is locked", "disk I/O error"})
