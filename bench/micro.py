"""Micro-benchmarks behind the profiling findings (µs per call, median of --repeat runs).

    taskset -c 0 .venv/bin/python -m bench.micro [--number 2000] [--repeat 5]

1. What one wave send costs in TelegramMessenger.ask: question_text, question_keyboard
   (as it was with aiogram's InlineKeyboardBuilder until 2026-11-23 17:56, and as the
   product builds it directly now), and bot.send_message through the zero-latency session.
2. What building the answer path's SQLAlchemy statements costs per update (the product
   builds each statement anew per call; SQLAlchemy then derives its cache key).
3. One round trip to a worker thread: aiosqlite's queue + call_soon_threadsafe, and
   loop.run_in_executor, on an idle SQLite connection (no SQL).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy import select, update
from sqlalchemy.dialects import sqlite

import bot.questions
from bench.common import machine, write_result
from bench.fakes import TOKEN, ZeroLatencySession
from bot.callbacks import AnswerCb
from bot.keyboards import question_keyboard
from bot.messenger import TelegramMessenger
from bot.questions import question_text
from bot.texts import t
from storage.answers import _COLUMNS
from storage.models import Answer, Customer, Dispatch, DispatchStatus, ProcessedUpdate
from surveys.answers import SKIP
from surveys.loader import load_survey
from surveys.messenger import Ask
from surveys.model import Question, QuestionKind, Survey
from surveys.planner import first_question


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


def per_call_us(fn: Callable[[], Any], number: int, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - started) / number * 1e6)
    return statistics.median(runs)


async def per_call_us_async(fn: Callable[[], Awaitable[Any]], number: int, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            await fn()
        runs.append((time.perf_counter() - started) / number * 1e6)
    return statistics.median(runs)


async def send_costs(number: int, repeat: int) -> dict[str, float]:
    survey = load_survey("cafe")
    wave = survey.wave("after_purchase")
    assert wave is not None
    question = first_question(wave)  # what the drain sends: heard_from, 6 choices
    ask = Ask(700_000_001, "en", 123_456, survey, wave, question, intro=True)
    tg = Bot(TOKEN, session=ZeroLatencySession())
    messenger = TelegramMessenger(tg, 20)
    text = question_text(ask)
    keyboard = question_keyboard(survey, question, ask.dispatch_id, "en")
    out = {
        "question_text": per_call_us(lambda: question_text(ask), number, repeat),
        "question_keyboard (InlineKeyboardBuilder, before 17:56)": per_call_us(
            lambda: builder_question_keyboard(survey, question, ask.dispatch_id, "en"),
            number,
            repeat,
        ),
        "question_keyboard (product now: built directly)": per_call_us(
            lambda: question_keyboard(survey, question, ask.dispatch_id, "en"), number, repeat
        ),
        "bot.send_message via zero-latency session": await per_call_us_async(
            lambda: tg.send_message(
                ask.chat_id,
                text,
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard,
                request_timeout=20,
            ),
            number,
            repeat,
        ),
        "TelegramMessenger.ask (product now, all of the above)": await per_call_us_async(
            lambda: messenger.ask(ask), number, repeat
        ),
    }
    product = bot.questions.question_keyboard
    bot.questions.question_keyboard = builder_question_keyboard  # type: ignore[assignment]
    try:
        out["TelegramMessenger.ask (with the builder, before 17:56)"] = await per_call_us_async(
            lambda: messenger.ask(ask), number, repeat
        )
    finally:
        bot.questions.question_keyboard = product  # type: ignore[assignment]
    return out


def statement_costs(number: int, repeat: int) -> dict[str, float]:
    now = datetime.now(UTC)
    values = {
        "dispatch_id": 1, "order_id": 1, "customer_id": 1, "survey_id": "cafe",
        "wave_id": "after_purchase", "question_id": "visit_rating", "stage": "purchase",
        "touchpoint": None, "kind": "rating", "segment": "b", "answered_at": now, "rating": 4,
        "day": now.date(),
    }  # fmt: skip
    builders: dict[str, Callable[[], Any]] = {
        "claim_update INSERT processed_updates": lambda: (
            sqlite.insert(ProcessedUpdate)
            .on_conflict_do_nothing()
            .values(update_id=5, processed_at=now)
        ),
        "open_wave SELECT dispatches JOIN customers": lambda: (
            select(*_COLUMNS)
            .outerjoin(Customer, Customer.id == Dispatch.customer_id)
            .where(Dispatch.id == 5)
        ),
        "answers.insert INSERT answers (ORM entity)": lambda: (
            sqlite.insert(Answer).on_conflict_do_nothing().values(values)
        ),
        "answers.insert INSERT answers (Core Table)": lambda: (
            sqlite.insert(Answer.__table__).on_conflict_do_nothing().values(values)
        ),
        "answers.advance UPDATE dispatches": lambda: (
            update(Dispatch)
            .where(Dispatch.id == 5)
            .values(
                progress={"heard_from": [None, "regular", None]},
                current_question="x",
                status=DispatchStatus.SENT,
            )
        ),
    }
    out = {}
    for name, build in builders.items():
        out[f"build {name}"] = per_call_us(build, number, repeat)
        out[f"build + cache key {name}"] = per_call_us(
            lambda build=build: build()._generate_cache_key(), number, repeat
        )
    return out


async def hop_costs(number: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hop.db"
        sqlite3.connect(path).close()
        async with aiosqlite.connect(path) as conn:
            noop: Callable[[], None] = lambda: None  # noqa: E731
            aio = await per_call_us_async(lambda: conn._execute(noop), number, repeat)
        executor = ThreadPoolExecutor(max_workers=1)
        loop = asyncio.get_running_loop()
        pool = await per_call_us_async(lambda: loop.run_in_executor(executor, int), number, repeat)
        executor.shutdown()
    return {"aiosqlite round trip (no SQL)": aio, "run_in_executor round trip": pool}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results = {
        "send": asyncio.run(send_costs(args.number, args.repeat)),
        "statements": statement_costs(args.number, args.repeat),
        "hops": asyncio.run(hop_costs(args.number, args.repeat)),
    }
    for section, figures in results.items():
        print(f"{section}:")
        for name, us in figures.items():
            print(f"  {name:62} {us:8.1f} µs")
    payload = {"benchmark": "micro", "args": vars(args), "machine": machine(), **results}
    print(f"written {write_result('micro', payload)}")


if __name__ == "__main__":
    main()
