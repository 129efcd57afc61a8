"""Answers per second, end to end in one process.

A callback_query update (a tap on a star of the "visit_rating" question the customer is on)
goes through aiogram's parsing (`Dispatcher.feed_raw_update`), the real UpdateMiddleware
(one transaction per update, replies flushed after commit) and routers, the answer is
committed to SQLite (a file in a temp dir, migrated with storage.migrate.upgrade), then the
callback is answered, the message edited and the next question ("visit_emotion") sent — all
to a zero-latency in-process Bot API session (bench/fakes.py), so no HTTP is involved.
Updates are fed one after another, as polling does with handle_as_tasks=False.

Baseline in the same run: a bare aiogram Dispatcher with a handler on the same
CallbackData filter making the same three API calls (same texts, same keyboard) through
the same session, no database and no middleware.

    taskset -c 0 .venv/bin/python -m bench.answers [--customers 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import logging
import os
import pstats
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.enums import ParseMode
from aiogram.types import CallbackQuery
from sqlalchemy import func, insert, select

import storage.updates
from bench.common import RESULTS, machine, median, percentile, write_result
from bench.db_thread import InlineSession, ThreadSessions, run_inline
from bench.fakes import BOT_USER, TOKEN, ZeroLatencySession
from bench.instrument import HopMeter, StatementMeter
from bot.app import App, build_app
from bot.callbacks import AnswerCb
from bot.questions import answered_text, render
from bot.settings import Settings
from storage.models import Answer, Customer, Dispatch, Order, ProcessedUpdate
from surveys.messenger import Ask
from surveys.model import Survey

SURVEY, WAVE, QUESTION, NEXT = "cafe", "after_purchase", "visit_rating", "visit_emotion"
TARGET_RATIO = 0.15
TG_BASE = 700_000_000  # Telegram user / chat ids of the bench customers
CHUNK = 5000
# Ratings 1-5 in turn: 40 % of the taps are ≤ 2 and open or update an alert (an unhappy
# customer costs more: the alert row and the details for the staff notification).
LOWEST_STAR = 1


def settings_for(database: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, bot_token=TOKEN, database_url=f"sqlite+aiosqlite:///{database}",
        quiet_hours="off", timezone="UTC", send_rate=0, survey=SURVEY, default_locale="en",
    )  # fmt: skip


# --------------------------------------------------------------------------- data


async def seed(app: App, n: int, now: datetime) -> None:
    """N active customers, each with an order and a wave sent and on `visit_rating`."""
    progress = {"heard_from": [None, "regular", None], "chose_because": [None, "menu", None]}
    async with app.engine.begin() as conn:
        for start in range(1, n + 1, CHUNK):
            ids = range(start, min(n, start + CHUNK - 1) + 1)
            await conn.execute(insert(Customer.__table__), [
                {"id": i, "ref": f"c{i}", "tg_user_id": TG_BASE + i, "chat_id": TG_BASE + i,
                 "locale": "en", "status": "active", "consented_at": now - timedelta(hours=3),
                 "last_wave_at": now - timedelta(minutes=5), "created_at": now}
                for i in ids
            ])  # fmt: skip
            await conn.execute(insert(Order.__table__), [
                {"id": i, "external_id": f"o{i}", "customer_id": i, "survey_id": SURVEY,
                 "segment": "branch-1", "source": "bench", "journey": "scheduled",
                 "purchased_at": now - timedelta(hours=2), "journey_started_at": now,
                 "created_at": now}
                for i in ids
            ])  # fmt: skip
            await conn.execute(insert(Dispatch.__table__), [
                {"id": i, "order_id": i, "customer_id": i, "survey_id": SURVEY, "wave_id": WAVE,
                 "segment": "branch-1", "status": "sent", "due_at": now + timedelta(hours=20),
                 "attempts": 1, "sent_at": now - timedelta(minutes=5),
                 "opened_at": now - timedelta(minutes=4), "current_question": QUESTION,
                 "message_id": 5_000_000 + i, "progress": progress, "created_at": now}
                for i in ids
            ])  # fmt: skip


def stars(i: int) -> int:
    """Customer i's rating: 1-5 in turn, or 3-5 with --no-alerts (set in main)."""
    return LOWEST_STAR + i % (6 - LOWEST_STAR)


def tap_updates(survey: Survey, n: int, first_update_id: int) -> list[dict[str, Any]]:
    """What getUpdates would return: one tap per customer on the question they are on."""
    wave = survey.wave(WAVE)
    assert wave is not None
    question = next(q for q in wave.questions if q.id == QUESTION)
    updates = []
    date = int(time.time())
    for i in range(1, n + 1):
        user_id = TG_BASE + i
        text, keyboard = render(Ask(user_id, "en", i, survey, wave, question))
        value = stars(i)
        user = {"id": user_id, "is_bot": False, "first_name": f"C{i}", "language_code": "en"}
        message = {
            "message_id": 5_000_000 + i, "date": date, "text": text,
            "chat": {"id": user_id, "type": "private", "first_name": f"C{i}"},
            "from": BOT_USER.model_dump(exclude_none=True),
            "reply_markup": keyboard.model_dump(exclude_none=True),
        }  # fmt: skip
        updates.append({
            "update_id": first_update_id + i,
            "callback_query": {
                "id": f"cbq-{first_update_id + i}", "from": user, "chat_instance": "ci",
                "message": message, "data": AnswerCb(d=i, q=QUESTION, v=value).pack(),
            },
        })  # fmt: skip
    return updates


# --------------------------------------------------------------------------- feeding


async def feed(
    dp: Dispatcher, bot: Bot, updates: list[dict[str, Any]], warmup: int, **kwargs: Any
) -> tuple[float, list[float], float]:
    """Feed the updates one by one; the first `warmup` are not timed.

    Returns wall seconds, per-update latencies and the process CPU seconds (all threads:
    less sensitive than wall time to other jobs sharing the core)."""
    for update in updates[:warmup]:
        await dp.feed_raw_update(bot, update, **kwargs)
    latencies = []
    clock = time.perf_counter
    cpu_started = time.process_time()
    started = clock()
    for update in updates[warmup:]:
        t0 = clock()
        await dp.feed_raw_update(bot, update, **kwargs)
        latencies.append(clock() - t0)
    return clock() - started, latencies, time.process_time() - cpu_started


def baseline_dispatcher(survey: Survey) -> Dispatcher:
    """Same filter, same three calls with the same texts and keyboard; no DB, no middleware."""
    wave = survey.wave(WAVE)
    assert wave is not None
    question = next(q for q in wave.questions if q.id == QUESTION)
    following = next(q for q in wave.questions if q.id == NEXT)

    async def on_tap(query: CallbackQuery, callback_data: AnswerCb, bot: Bot) -> None:
        stars = callback_data.v
        shown = "★" * stars + "☆" * (5 - stars)
        await query.message.edit_text(  # type: ignore[union-attr]
            answered_text(survey, question, "en", shown),
            parse_mode=ParseMode.HTML,
            reply_markup=None,
        )
        await query.answer()
        text, keyboard = render(
            Ask(query.from_user.id, "en", callback_data.d, survey, wave, following)
        )
        await bot.send_message(
            query.from_user.id, text, parse_mode=ParseMode.HTML, reply_markup=keyboard
        )

    router = Router(name="baseline")
    router.callback_query.register(on_tap, AnswerCb.filter())
    dp = Dispatcher()
    dp.include_router(router)
    return dp


# --------------------------------------------------------------------------- one round


async def one_round(args: argparse.Namespace, round_no: int) -> dict[str, Any]:
    n, warmup = args.customers, min(args.warmup, args.customers // 2)
    timed = n - warmup
    with tempfile.TemporaryDirectory(prefix="bench-answers-") as tmp:
        session = ZeroLatencySession(wire=args.wire)
        bot = Bot(TOKEN, session=session)
        app = await build_app(settings_for(Path(tmp) / "bench.db"), bot=bot)
        try:
            now = datetime.now(UTC)
            await seed(app, n, now)
            bot_updates = tap_updates(app.survey, n, 1_000_000)
            base_updates = tap_updates(app.survey, n, 2_000_000)

            # Baseline first: aiogram alone through the same zero-latency session.
            base_session = ZeroLatencySession(wire=args.wire)
            base_bot = Bot(TOKEN, session=base_session)
            gc.collect()
            base_elapsed, base_lat, base_cpu = await feed(
                baseline_dispatcher(app.survey), base_bot,
                base_updates[: warmup + 1] if args.skip_baseline else base_updates, warmup,
            )  # fmt: skip
            if args.skip_baseline:  # (for a sampling profiler attached to the whole run)
                base_elapsed, base_cpu = base_elapsed * timed, base_cpu * timed

            session.calls.clear()
            gc.collect()
            profiler = cProfile.Profile() if args.profile and round_no == 0 else None
            if profiler is not None:
                profiler.enable()
            bot_elapsed, bot_lat, bot_cpu = await feed(app.dp, bot, bot_updates, warmup)
            if profiler is not None:
                profiler.disable()
                dump_profile(profiler, args.profile_top)

            checks = await verify(app, n, session.calls)
        finally:
            await app.close()
    bot_rate, base_rate = timed / bot_elapsed, timed / base_elapsed
    return {
        "customers": n, "warmup": warmup, "timed_updates": timed,
        "bot": {"updates_per_s": bot_rate, "elapsed_s": bot_elapsed, "cpu_s": bot_cpu,
                "updates_per_cpu_s": timed / bot_cpu, **lat_stats(bot_lat)},
        "baseline": {"updates_per_s": base_rate, "elapsed_s": base_elapsed, "cpu_s": base_cpu,
                     "updates_per_cpu_s": timed / base_cpu, **lat_stats(base_lat)},
        "ratio": bot_rate / base_rate, "cpu_ratio": base_cpu / bot_cpu,
        "loadavg": os.getloadavg()[0], "checks": checks,
    }  # fmt: skip


def lat_stats(latencies: list[float]) -> dict[str, float]:
    return {
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies) * 1000,
    }


async def verify(app: App, n: int, calls: Any) -> dict[str, Any]:
    async with app.sessions() as s:
        answers = await s.scalar(select(func.count()).select_from(Answer))
        moved = await s.scalar(
            select(func.count()).select_from(Dispatch).where(Dispatch.current_question == NEXT)
        )
        seen = await s.scalar(select(func.count()).select_from(ProcessedUpdate))
    checks = {
        "answers_rows": answers,
        "dispatches_on_next_question": moved,
        "processed_updates": seen,
        "api_calls": dict(calls),
    }
    expected_calls = {"editMessageText": n, "answerCallbackQuery": n, "sendMessage": n}
    checks["ok"] = answers == n and moved == n and seen == n and dict(calls) == expected_calls
    if not checks["ok"]:
        print(f"CORRECTNESS CHECK FAILED: {checks}", file=sys.stderr)
    return checks


def dump_profile(profiler: cProfile.Profile, top: int) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "answers.prof"
    profiler.dump_stats(path)
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    print(f"profile written to {path}")


# --------------------------------------------------------------------------- breakdown


async def breakdown(args: argparse.Namespace) -> dict[str, Any]:
    """One instrumented end-to-end round, then the DB part alone three ways."""
    n, warmup = args.customers, min(args.warmup, args.customers // 2)
    timed = n - warmup
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-answers-") as tmp:
        bot = Bot(TOKEN, session=ZeroLatencySession())
        app = await build_app(settings_for(Path(tmp) / "bench.db"), bot=bot)
        hops, statements = HopMeter(), StatementMeter(app.engine.sync_engine)
        try:
            await seed(app, n, datetime.now(UTC))
            updates = tap_updates(app.survey, n, 1_000_000)
            hops.install()
            statements.install()
            await feed(app.dp, bot, updates[:warmup], 0)
            hops.reset()
            statements.reset()
            elapsed, _, _ = await feed(app.dp, bot, updates[warmup:], 0)
        finally:
            hops.uninstall()
            statements.uninstall()
            await app.close()
    per = 1e6 / timed
    out["end_to_end_instrumented"] = {
        "update_us": elapsed * per,
        "hops_per_update": {k: v / timed for k, v in hops.count.items()},
        "hop_wait_us": {k: v * per for k, v in hops.wall.items()},
        "in_thread_us": {k: v * per for k, v in hops.thread.items()},
        "statement_us": {k: v * per for k, v in statements.wall.items()},
        "statements_per_update": {k: v / timed for k, v in statements.count.items()},
    }
    e2e = out["end_to_end_instrumented"]
    wait, inside = sum(e2e["hop_wait_us"].values()), sum(e2e["in_thread_us"].values())
    print()
    print(f"breakdown (instrumented round, per update, µs; N={n}):")
    print(
        f"  end to end {e2e['update_us']:.0f}; aiosqlite round trips "
        f"{sum(e2e['hops_per_update'].values()):.1f}, loop waited {wait:.0f} for them, of "
        f"which {inside:.0f} inside the DB thread (SQLite + sqlite3 module)"
    )
    for name in sorted(hops.count):
        print(
            f"    {name:10} x{e2e['hops_per_update'][name]:4.1f}  wait "
            f"{e2e['hop_wait_us'][name]:6.0f}  in thread {e2e['in_thread_us'][name]:6.0f}"
        )
    print("  statements (SQLAlchemy cursor execute + fetch, incl. their round trips):")
    for kind in sorted(statements.count):
        print(
            f"    {kind:34} x{e2e['statements_per_update'][kind]:3.1f} "
            f"{e2e['statement_us'][kind]:6.0f}"
        )
    out["db_only"] = {}
    print("  the DB part alone (claim_update + AnswerService.tap + commit), per update:")
    for variant in ("aiosqlite", "thread-session", "one-hop"):
        seconds = await db_only(variant, n, warmup)
        out["db_only"][variant] = {"update_us": seconds * per, "updates_per_s": timed / seconds}
        print(f"    {variant:16} {seconds * per:6.0f} µs  ({timed / seconds:6.0f}/s)")
    return out


async def db_only(variant: str, n: int, warmup: int) -> float:
    """The database work of a tap without aiogram: product code, three ways to run it."""
    with tempfile.TemporaryDirectory(prefix="bench-answers-db-") as tmp:
        database = Path(tmp) / "bench.db"
        bot = Bot(TOKEN, session=ZeroLatencySession())
        app = await build_app(settings_for(database), bot=bot)
        now = datetime.now(UTC)
        await seed(app, n, now)
        service = app.services.answers
        threaded = ThreadSessions(database) if variant != "aiosqlite" else None
        loop = asyncio.get_running_loop()

        def inline_update(i: int) -> None:
            assert threaded is not None
            with threaded.factory() as sync, sync.begin():
                session: Any = InlineSession(sync)
                run_inline(storage.updates.claim_update(session, 3_000_000 + i, now))
                run_inline(service.tap(session, TG_BASE + i, i, QUESTION, stars(i), now))

        async def one(i: int) -> None:
            if variant == "one-hop":
                assert threaded is not None
                await loop.run_in_executor(threaded.executor, inline_update, i)
                return
            factory: Any = threaded if threaded is not None else app.sessions
            async with factory() as session, session.begin():
                await storage.updates.claim_update(session, 3_000_000 + i, now)
                await service.tap(session, TG_BASE + i, i, QUESTION, stars(i), now)

        try:
            for i in range(1, warmup + 1):
                await one(i)
            gc.collect()
            started = time.perf_counter()
            for i in range(warmup + 1, n + 1):
                await one(i)
            elapsed = time.perf_counter() - started
            async with app.sessions() as s:
                answers = await s.scalar(select(func.count()).select_from(Answer))
            assert answers == n, (variant, answers)
        finally:
            if threaded is not None:
                threaded.close()
            await app.close()
    return elapsed


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=5000, help="customers = taps (N)")
    parser.add_argument("--warmup", type=int, default=200,
                        help="the first W taps are not timed (still verified)")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument(
        "--wire",
        action="store_true",
        help="fake session also JSON-encodes requests and decodes responses",
    )
    parser.add_argument(
        "--no-alerts", action="store_true",
        help="ratings 3-5 only: the answer path without the alerts that low ratings open",
    )  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="cProfile the first bot round")
    parser.add_argument("--profile-top", type=int, default=40)
    parser.add_argument(
        "--skip-baseline",
        action="store_true",
        help="feed the baseline one update only (baseline figures invalid)",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also: one instrumented round (thread hops, per-statement times)"
        " and DB-only variants (async / 1 hop per statement / per update)",
    )
    args = parser.parse_args()
    global LOWEST_STAR  # noqa: PLW0603 (one setting for the whole run)
    LOWEST_STAR = 3 if args.no_alerts else 1
    logging.basicConfig(level=logging.WARNING)

    rounds = []
    for round_no in range(args.repeat):
        result = asyncio.run(one_round(args, round_no))
        rounds.append(result)
        print(
            f"round {round_no + 1}: bot {result['bot']['updates_per_s']:8.0f}/s  "
            f"baseline {result['baseline']['updates_per_s']:8.0f}/s  "
            f"ratio {result['ratio']:.3f} (per CPU-s {result['cpu_ratio']:.3f})  "
            f"load {result['loadavg']:.1f}  answers={result['checks']['answers_rows']} "
            f"ok={result['checks']['ok']}",
            flush=True,
        )
    summary = {
        "bot_updates_per_s": median([r["bot"]["updates_per_s"] for r in rounds]),
        "baseline_updates_per_s": median([r["baseline"]["updates_per_s"] for r in rounds]),
        "ratio": median([r["ratio"] for r in rounds]),
        "bot_updates_per_cpu_s": median([r["bot"]["updates_per_cpu_s"] for r in rounds]),
        "baseline_updates_per_cpu_s": median([r["baseline"]["updates_per_cpu_s"] for r in rounds]),
        "cpu_ratio": median([r["cpu_ratio"] for r in rounds]),
        "bot_p50_ms": median([r["bot"]["p50_ms"] for r in rounds]),
        "bot_p99_ms": median([r["bot"]["p99_ms"] for r in rounds]),
        "baseline_p50_ms": median([r["baseline"]["p50_ms"] for r in rounds]),
        "all_checks_ok": all(r["checks"]["ok"] for r in rounds),
        "target_ratio": TARGET_RATIO,
    }
    summary["target_met"] = summary["ratio"] >= TARGET_RATIO
    print()
    print(f"answers benchmark: N={args.customers} customers, {args.repeat} round(s), "
          f"session={'wire' if args.wire else 'objects'}  (medians)")  # fmt: skip
    print(f"{'':28}{'updates/s':>12}{'per CPU-s':>11}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'bot (DB + middleware)':28}{summary['bot_updates_per_s']:12.0f}"
          f"{summary['bot_updates_per_cpu_s']:11.0f}"
          f"{summary['bot_p50_ms']:10.3f}{summary['bot_p99_ms']:10.3f}")  # fmt: skip
    print(f"{'bare aiogram baseline':28}{summary['baseline_updates_per_s']:12.0f}"
          f"{summary['baseline_updates_per_cpu_s']:11.0f}"
          f"{summary['baseline_p50_ms']:10.3f}{'':>10}")  # fmt: skip
    verdict = "met" if summary["target_met"] else "MISSED"
    print(f"ratio {summary['ratio']:.3f} (per CPU-second {summary['cpu_ratio']:.3f}) "
          f"(target >= {TARGET_RATIO}: {verdict}); "
          f"answers rows == N in every round: {summary['all_checks_ok']}")  # fmt: skip
    payload = {"benchmark": "answers", "args": vars(args), "machine": machine(),
               "summary": summary, "rounds": rounds}  # fmt: skip
    if args.breakdown:
        payload["breakdown"] = asyncio.run(breakdown(args))
    print(f"written {write_result('answers', payload)}")


if __name__ == "__main__":
    main()
