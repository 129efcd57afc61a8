"""The heavy half of bench.dispatch, run in child processes (see bench/dispatch.py).

    python -m bench.dispatch_worker seed DB --due N --future M
    python -m bench.dispatch_worker drain DB --window 64 [--messenger stub] [--trace]

Each prints one JSON line. Kept apart so the parent process never imports aiogram (whose
import alone is ~165 MiB RSS): Linux carries the pre-exec RSS high-water mark of the
process into ru_maxrss across fork+exec, so a fat parent would pollute the children's
ru_maxrss figures.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import logging
import os
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import Bot
from sqlalchemy import func, insert, select

from bench.common import RESULTS, maxrss_mib, rss_mib, vm_hwm_mib
from bench.fakes import TOKEN, ZeroLatencySession
from bench.instrument import StatementMeter
from bot.messenger import TelegramMessenger
from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.models import Customer, Dispatch, Order
from surveys.dispatcher import DrainReport, WaveDispatcher
from surveys.loader import load_survey
from surveys.messenger import Ask
from surveys.ratelimit import LocalRateLimiter
from surveys.timing import SendingRules

CHUNK = 5000
TG_BASE = 700_000_000


def utc_now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- the backlog


async def build_template(
    path: Path, due: int, future: int, overdue_sent: int = 0
) -> dict[str, Any]:
    """Migrate, then insert customers, orders and pending dispatches (Core executemany).

    `overdue_sent`: extra customers whose wave was sent yesterday and whose reminder is
    overdue (status 'sent', due_at in the past, earlier than every pending row) — what the
    table looks like after downtime; the drain's follow-up step handles 500 per drain."""
    started = time.perf_counter()
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    await upgrade(engine)
    now = utc_now()
    customers = max(due, future)
    async with engine.begin() as conn:
        for start in range(1, customers + 1, CHUNK):
            ids = range(start, min(customers, start + CHUNK - 1) + 1)
            await conn.execute(insert(Customer.__table__), [
                {"id": i, "ref": f"c{i}", "tg_user_id": TG_BASE + i, "chat_id": TG_BASE + i,
                 "locale": "en" if i % 3 else "ru", "status": "active",
                 "consented_at": now - timedelta(days=1), "last_wave_at": None,
                 "created_at": now - timedelta(days=1)}
                for i in ids
            ])  # fmt: skip
            await conn.execute(insert(Order.__table__), [
                {"id": i, "external_id": f"o{i}", "customer_id": i, "survey_id": "cafe",
                 "segment": f"branch-{i % 4}", "source": "bench", "journey": "scheduled",
                 "purchased_at": now - timedelta(hours=3), "journey_started_at": now,
                 "created_at": now - timedelta(hours=3)}
                for i in ids
            ])  # fmt: skip
    # Due rows: due at scattered moments over the last two hours (not in id order);
    # future rows: the next wave of the same orders, due next week.
    rows = [(i, "after_purchase", now - timedelta(seconds=1 + (i * 7919) % 7200))
            for i in range(1, due + 1)]  # fmt: skip
    rows += [(i, "first_use", now + timedelta(days=7, seconds=(i * 104729) % 86400))
             for i in range(1, future + 1)]  # fmt: skip
    async with engine.begin() as conn:
        for start in range(0, len(rows), CHUNK):
            await conn.execute(insert(Dispatch.__table__), [
                {"order_id": order, "customer_id": order, "survey_id": "cafe", "wave_id": wave,
                 "segment": f"branch-{order % 4}", "status": "pending", "due_at": due_at,
                 "attempts": 0, "progress": {}, "created_at": now - timedelta(hours=3)}
                for order, wave, due_at in rows[start:start + CHUNK]
            ])  # fmt: skip
    if overdue_sent:
        await add_overdue_sent(engine, customers, overdue_sent, now)
    await engine.dispose()  # the last connection closing checkpoints the WAL into the file
    size = path.stat().st_size  # noqa: ASYNC240 (setup, not measured)
    return {"seconds": time.perf_counter() - started, "bytes": size}


async def add_overdue_sent(engine: Any, after: int, count: int, now: datetime) -> None:
    async with engine.begin() as conn:
        for start in range(after + 1, after + count + 1, CHUNK):
            ids = range(start, min(after + count, start + CHUNK - 1) + 1)
            await conn.execute(insert(Customer.__table__), [
                {"id": i, "ref": f"c{i}", "tg_user_id": TG_BASE + i, "chat_id": TG_BASE + i,
                 "locale": "en", "status": "active", "consented_at": now - timedelta(days=2),
                 "last_wave_at": now - timedelta(hours=22), "created_at": now - timedelta(days=2)}
                for i in ids
            ])  # fmt: skip
            await conn.execute(insert(Order.__table__), [
                {"id": i, "external_id": f"o{i}", "customer_id": i, "survey_id": "cafe",
                 "segment": "branch-0", "source": "bench", "journey": "scheduled",
                 "purchased_at": now - timedelta(days=1), "journey_started_at": now,
                 "created_at": now - timedelta(days=1)}
                for i in ids
            ])  # fmt: skip
            await conn.execute(insert(Dispatch.__table__), [
                {"order_id": i, "customer_id": i, "survey_id": "cafe",
                 "wave_id": "after_purchase", "segment": "branch-0", "status": "sent",
                 "due_at": now - timedelta(hours=2, seconds=1 + i % 3600), "attempts": 1,
                 "sent_at": now - timedelta(hours=22), "current_question": "heard_from",
                 "message_id": 9_000_000 + i, "progress": {},
                 "created_at": now - timedelta(days=1)}
                for i in ids
            ])  # fmt: skip


# --------------------------------------------------------------------------- the drain


class TimedWaveDispatcher(WaveDispatcher):
    """Times every window (and, under tracemalloc, the traced memory after it)."""

    def __init__(self, *args: Any, trace: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.window_seconds: list[float] = []
        self.window_cpu: list[float] = []  # process CPU (all threads): robust to contention
        self.window_traced: list[int] = []
        self.trace = trace
        self.snapshot: Any = None

    async def _drain_window(self, report: DrainReport) -> bool:
        cpu = time.process_time()
        started = time.perf_counter()
        more = await super()._drain_window(report)
        if more:
            self.window_seconds.append(time.perf_counter() - started)
            self.window_cpu.append(time.process_time() - cpu)
            if self.trace:
                self.window_traced.append(tracemalloc.get_traced_memory()[0])
                if len(self.window_traced) == 10:  # warm: statements compiled, caches filled
                    self.snapshot = tracemalloc.take_snapshot()
        return more

    def growth(self, top: int = 8) -> list[dict[str, Any]]:
        """What was allocated and still alive at the end, compared with window 10."""
        if self.snapshot is None:
            return []
        ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
        end = tracemalloc.take_snapshot().filter_traces(ignore)
        diffs = end.compare_to(self.snapshot.filter_traces(ignore), "lineno")
        return [
            {"where": f"{d.traceback[0].filename.split('site-packages/')[-1]}:"
                      f"{d.traceback[0].lineno}",
             "kib": round(d.size_diff / 1024, 1), "objects": d.count_diff}
            for d in diffs[:top]
        ]  # fmt: skip


class StubMessenger:
    """The Messenger protocol at zero cost: a message id at once."""

    def __init__(self) -> None:
        self.next_id = 10_000_000

    async def ask(self, ask: Ask) -> int:
        self.next_id += 1
        return self.next_id


def make_dispatcher(args: argparse.Namespace, sessions: Any, bot: Bot) -> TimedWaveDispatcher:
    messenger: Any = StubMessenger() if args.messenger == "stub" else TelegramMessenger(bot, 20)
    return TimedWaveDispatcher(
        sessions, load_survey("cafe"), messenger, LocalRateLimiter(0),
        SendingRules(ZoneInfo("UTC"), None), utc_now, "en", window=args.window,
        lease=timedelta(minutes=2), trace=args.trace,
    )  # fmt: skip


async def drain(args: argparse.Namespace) -> dict[str, Any]:
    engine = make_engine(f"sqlite+aiosqlite:///{args.database}")
    sessions = make_session_factory(engine)
    session = ZeroLatencySession(wire=args.wire)
    waves = make_dispatcher(args, sessions, Bot(TOKEN, session=session))
    meter = StatementMeter(engine.sync_engine) if args.statements else None
    if meter is not None:
        meter.install()
    gc.collect()
    before = {"rss_before_mib": rss_mib(), "maxrss_before_mib": maxrss_mib(),
              "hwm_before_mib": vm_hwm_mib()}  # fmt: skip
    if args.trace:
        tracemalloc.start()
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    load_before = os.getloadavg()[0]
    cpu_started = time.process_time()
    started = time.perf_counter()
    report = await waves.drain()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    if profiler is not None:
        profiler.disable()
        RESULTS.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(RESULTS / f"dispatch-{args.profile}.prof")
    traced_peak = tracemalloc.get_traced_memory()[1] if args.trace else None
    growth = waves.growth() if args.trace else []
    if args.trace:
        tracemalloc.stop()
    after = {"rss_after_mib": rss_mib(), "maxrss_after_mib": maxrss_mib(),
             "hwm_after_mib": vm_hwm_mib()}  # fmt: skip
    async with sessions() as s:
        statuses = await s.execute(select(Dispatch.status, func.count()).group_by(Dispatch.status))
        by_status = {str(status): int(count) for status, count in statuses}
    await engine.dispose()
    windows, cpus = waves.window_seconds, waves.window_cpu
    tenth = max(1, len(windows) // 10)
    first, last = windows[:tenth], windows[-tenth:]
    first_cpu, last_cpu = sum(cpus[:tenth]) / tenth, sum(cpus[-tenth:]) / tenth
    result: dict[str, Any] = {
        "sent": report.sent, "outcomes": dict(report.outcomes), "elapsed_s": elapsed,
        "waves_per_s": report.sent / elapsed, "cpu_s": cpu,
        "waves_per_cpu_s": report.sent / cpu, "loadavg": [load_before, os.getloadavg()[0]],
        "windows": len(windows),
        "window_mean_ms": 1000 * sum(windows) / len(windows),
        "first10_mean_ms": 1000 * sum(first) / len(first),
        "last10_mean_ms": 1000 * sum(last) / len(last),
        "last_over_first": (sum(last) / len(last)) / (sum(first) / len(first)),
        "first10_cpu_ms": 1000 * first_cpu, "last10_cpu_ms": 1000 * last_cpu,
        "cpu_last_over_first": last_cpu / first_cpu,
        "window_median_ms": 1000 * sorted(windows)[len(windows) // 2],
        **before, **after, "status_after": by_status, "api_calls": dict(session.calls),
        "window_ms_by_decile": [round(1000 * v, 3) for v in deciles(windows)],
        "window_cpu_ms_by_decile": [round(1000 * v, 3) for v in deciles(cpus)],
    }  # fmt: skip
    if meter is not None:
        result["statements_ms_per_window"] = {
            kind: round(1000 * seconds / len(windows), 3) for kind, seconds in meter.wall.items()
        }
        result["statements_per_window"] = {
            kind: round(count / len(windows), 2) for kind, count in meter.count.items()
        }
    if args.trace:
        result["tracemalloc_peak_mib"] = (traced_peak or 0) / 2**20
        result["growth_since_window_10"] = growth
        result["instrumentation_lists_kib"] = round(
            sum(sys.getsizeof(x) for x in (windows, cpus, waves.window_traced)) / 1024
            + (len(windows) + len(cpus)) * 24 / 1024
            + len(waves.window_traced) * 32 / 1024,
            1,
        )
        result["traced_mib_by_decile"] = [
            round(v / 2**20, 3) for v in deciles(waves.window_traced)
        ]
    return result


def deciles(values: list[Any]) -> list[float]:
    if not values:
        return []
    size = max(1, len(values) // 10)
    chunks = [values[i : i + size] for i in range(0, len(values), size)][:10]
    return [sum(chunk) / len(chunk) for chunk in chunks]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["seed", "drain"])
    parser.add_argument("database", type=Path)
    parser.add_argument("--due", type=int, default=100_000)
    parser.add_argument("--future", type=int, default=100_000)
    parser.add_argument("--overdue-sent", type=int, default=0)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--messenger", choices=["telegram", "stub"], default="telegram")
    parser.add_argument("--wire", action="store_true")
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--statements", action="store_true", help="time each statement kind")
    parser.add_argument("--profile", help="cProfile the drain into results/dispatch-NAME.prof")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.action == "seed":
        result = asyncio.run(
            build_template(args.database, args.due, args.future, args.overdue_sent)
        )
    else:
        result = asyncio.run(drain(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
