"""The drop-out funnel (reports.funnel) over bench.report's N synthetic answers, against
the same bare scan of the answers table, on SQLite.

    taskset -c 0 .venv/bin/python -m bench.funnel                    # 1M answers
    taskset -c 0 .venv/bin/python -m bench.funnel --answers 200000   # quicker

bench.report's answers come five to a dispatch (`dispatch_id = i // 5 + 1`) and carry no
dispatch rows; this bench adds them — one wave per dispatch id, sent an hour before its
first answer, 80 % answered, 10 % expired after opening, 10 % expired unopened, in three
segments — and times the funnel's queries for the last week (the weekly report) and the
whole twelve weeks, each round-robin against `SELECT count(*), sum(rating) FROM answers`:
first live (no rollup), then after one `refresh_funnel` (as the scheduler runs it), when
the closed days come from the rollup and only the last, still open day is read live.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.dialects import sqlite

from bench.common import machine, write_result
from bench.report import (
    BARE,
    NOW,
    PERIOD,
    SEGMENTS,
    prepare,
    rounds,
    scalar_rows,
    seed_in_child,
)
from reports.aggregate import Period
from reports.funnel import _rows
from reports.funnel_rollup import refresh_funnel
from storage.db import make_engine, make_session_factory
from storage.funnel import FunnelRows, answered_query, conditions_of, wave_rows_query

WEEK = Period(PERIOD.end - timedelta(days=7), PERIOD.end)


def _same(got: FunnelRows, expected: FunnelRows) -> bool:
    """The same counts, however the rows are split between the rollup and the live days."""

    def folded(rows: FunnelRows) -> dict[tuple[Any, ...], int]:
        totals: dict[tuple[Any, ...], int] = {}
        for row in rows.waves:
            key = (row.wave_id, row.status, row.current_question, row.opened, row.recorded)
            totals[key] = totals.get(key, 0) + row.count
        return totals

    return folded(got) == folded(expected) and got.answered == expected.answered


def seed_dispatches(path: Path, answers: int, seed: int = 11) -> int:
    """One dispatch row per dispatch id of bench.report's answers."""
    rng = random.Random(seed)
    start = datetime.combine(PERIOD.start, datetime.min.time())
    step = PERIOD.days * 86_400 / answers
    rows = []
    for dispatch in range(1, answers // 5 + 2):
        first = start + timedelta(seconds=max(5 * dispatch - 6, 0) * step)
        sent = first - timedelta(hours=1)
        roll = rng.random()
        status, on = "answered", None
        opened: datetime | None = first
        if roll < 0.1:
            status, on = "expired", f"q{rng.randint(1, 4)}"
        elif roll < 0.2:
            status, on, opened = "expired", "q0", None
        rows.append((
            dispatch, dispatch, "cafe", "w", rng.choice(SEGMENTS), status, 1,
            sent.isoformat(sep=" "), sent.isoformat(sep=" "),
            opened.isoformat(sep=" ") if opened else None, on, "{}", sent.isoformat(sep=" "),
        ))  # fmt: skip
    connection = sqlite3.connect(path)
    connection.executemany(
        "INSERT INTO dispatches (id, order_id, survey_id, wave_id, segment, status, attempts,"
        " sending_at, sent_at, opened_at, current_question, progress, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    connection.commit()
    connection.execute("ANALYZE")
    connection.commit()
    connection.close()
    return len(rows)


async def plans(engine: Any) -> dict[str, list[str]]:
    start, end = WEEK.bounds()
    found = {}
    for index, conditions in enumerate(conditions_of("cafe", start, end, None)):
        for name, query in (("waves", wave_rows_query), ("answers", answered_query)):
            compiled = query(conditions).compile(
                dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}
            )
            rows = await scalar_rows(engine, f"EXPLAIN QUERY PLAN {compiled}")
            found[f"{name}-{index}"] = [row[-1] for row in rows]
    return found


async def run(args: argparse.Namespace) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="bench-funnel-"))
    url, target = await prepare("sqlite", directory)
    seeded = seed_in_child("sqlite", target, args.answers)
    waves = seed_dispatches(Path(target), args.answers)
    engine = make_engine(url)
    factory = make_session_factory(engine)

    async def funnel(period: Period, segment: str | None = None) -> Any:
        async with factory() as session:  # as build_funnel reads: rollup, then live days
            return await _rows(session, "cafe", period, segment)

    variants: dict[str, Callable[[], Awaitable[Any]]] = {
        "bare_scan": lambda: scalar_rows(engine, BARE),
        "funnel_week": lambda: funnel(WEEK),
        "funnel_week_segment": lambda: funnel(WEEK, "vip"),
        "funnel_12_weeks": lambda: funnel(PERIOD),
    }
    live = await rounds(variants, args.repeat)
    expected = await funnel(PERIOD)
    started = time.perf_counter()
    built = await refresh_funnel(factory, "cafe", NOW)
    build_seconds = time.perf_counter() - started
    started = time.perf_counter()
    await refresh_funnel(factory, "cafe", NOW + timedelta(minutes=15))
    idle_seconds = time.perf_counter() - started
    medians = await rounds(variants, args.repeat)
    week = await funnel(WEEK)
    everything = await funnel(PERIOD)
    assert _same(everything, expected), "the rollup changed the funnel"
    found = await plans(engine)
    await engine.dispose()
    await asyncio.to_thread(Path(target).unlink)

    def ratios(found: dict[str, float]) -> dict[str, float]:
        return {k: round(v / found["bare_scan"], 3) for k, v in found.items()}

    return {
        "answers": args.answers,
        "dispatches": waves,
        "seed_seconds": round(seeded, 1),
        "live_median_seconds": {k: round(v, 4) for k, v in live.items()},
        "live_ratio_to_bare_scan": ratios(live),
        "rollup_build_seconds": round(build_seconds, 2),
        "rollup_days_built": len(built),
        "rollup_idle_refresh_seconds": round(idle_seconds, 4),
        "median_seconds": {k: round(v, 4) for k, v in medians.items()},
        "ratio_to_bare_scan": ratios(medians),
        "week_waves": sum(row.count for row in week.waves),
        "week_answers": sum(week.answered.values()),
        "all_answers": sum(everything.answered.values()),
        "plans": found,
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    payload = asyncio.run(run(args))
    path = write_result(f"funnel-sqlite-{args.answers}", payload)
    for key in (
        "live_median_seconds", "live_ratio_to_bare_scan", "rollup_build_seconds",
        "rollup_days_built", "rollup_idle_refresh_seconds", "median_seconds",
        "ratio_to_bare_scan", "week_waves", "week_answers", "plans",
    ):  # fmt: skip
        print(key, payload[key])
    print("→", path, f"(pid {os.getpid()})")


if __name__ == "__main__":
    main()
