"""The report aggregation over N synthetic answers on SQLite, against a bare scan.

    taskset -c 0 .venv/bin/python -m bench.report              # N = 1,000,000, 5 rounds

All N answers fall in the reported 30-day period, so the aggregate reads every one of
them: its time is compared with `SELECT count(*), sum(rating) FROM answers` (a full
scan, nothing grouped) on the same file in the same run. Peak memory of one aggregate
call is measured with tracemalloc (Python allocations), in a separate round.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bench.common import machine, maxrss_mib, median, write_result
from reports.aggregate import Period, _cells_query, aggregate, response_rates, top_comments
from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade

PERIOD = Period(date(2026, 10, 1), date(2026, 10, 31))
STAGES = ("discover", "visit", "order", "delivery", "support")
TOUCHPOINTS = ("app", "site", "staff", None)  # None: a stage-level question
EMOTIONS = (("joy", 2), ("calm", 1), ("meh", 0), ("worry", -1), ("anger", -2))
SEGMENTS = ("a", "b", "vip")
BARE = "SELECT count(*), sum(rating) FROM answers"
# What the issue measured as "naive": grouping by the cells alone, filtering on the
# timestamp. SQLite then sorts every row of the period in a temporary B-tree.
NAIVE = """
SELECT stage, touchpoint, emotion, count(*), sum(rating), count(rating), count(nps)
FROM answers WHERE survey_id = 'cafe' AND answered_at >= '2026-10-01' AND
answered_at < '2026-10-31' GROUP BY stage, touchpoint, emotion
"""


def synthetic(n: int, seed: int = 7) -> Iterator[tuple[Any, ...]]:
    """Rows for answers: 40 % ratings, 10 % NPS, 20 % emotions, 10 % choices, 20 % texts
    (half skipped), spread over the 30 days of PERIOD."""
    rng = random.Random(seed)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    seconds = PERIOD.days * 86_400
    for i in range(1, n + 1):
        at = start + timedelta(seconds=rng.randrange(seconds))
        stage, touchpoint = rng.choice(STAGES), rng.choice(TOUCHPOINTS)
        roll = rng.random()
        rating = nps = emotion = valence = choice = comment = None
        skipped = 0
        if roll < 0.4:
            kind, rating = "rating", rng.randint(1, 5)
        elif roll < 0.5:
            kind, nps = "nps", rng.randint(0, 10)
        elif roll < 0.7:
            kind, (emotion, valence) = "emotion", rng.choice(EMOTIONS)
        elif roll < 0.8:
            kind, choice = "choice", "x"
        else:
            kind = "text"
            skipped = int(rng.random() < 0.5)
            comment = None if skipped else f"comment {i}"
        yield (
            i, i // 5 + 1, i // 5 + 1, None, "cafe", "w", f"q{i % 5}", stage, touchpoint,
            kind, rng.choice(SEGMENTS), rating, nps, emotion, valence, choice, comment,
            skipped, at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds"),
            at.date().isoformat(),
        )  # fmt: skip


def seed(path: Path, n: int) -> None:
    """Raw sqlite3 executemany: seeding speed is not what is measured. The foreign keys
    are not enforced here (no orders/dispatches rows): the aggregate joins nothing."""
    columns = (
        "id, dispatch_id, order_id, customer_id, survey_id, wave_id, question_id, stage, "
        "touchpoint, kind, segment, rating, nps, emotion, valence, choice, comment, "
        "skipped, answered_at, day"
    )
    connection = sqlite3.connect(path)
    rows = synthetic(n)
    while chunk := [row for _, row in zip(range(50_000), rows, strict=False)]:
        connection.executemany(
            f"INSERT INTO answers ({columns}) VALUES ({', '.join('?' * 20)})", chunk
        )
        connection.commit()
    connection.execute("ANALYZE")
    connection.commit()
    connection.close()


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


async def scalar_rows(engine: AsyncEngine, sql: str) -> list[Any]:
    async with engine.connect() as connection:
        return list((await connection.execute(text(sql))).all())


async def plan(engine: AsyncEngine) -> dict[str, list[str]]:
    compiled = _cells_query("cafe", PERIOD, None).compile(
        dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}
    )
    plans = {}
    for name, sql in (("aggregate", str(compiled)), ("naive", NAIVE)):
        rows = await scalar_rows(engine, f"EXPLAIN QUERY PLAN {sql}")
        plans[name] = [row[-1] for row in rows]
    return plans


async def run(args: argparse.Namespace) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="bench-report-"))
    path = directory / "report.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    await upgrade(engine)
    await engine.dispose()
    started = time.perf_counter()
    seed(path, args.answers)
    seeded = time.perf_counter() - started

    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    factory = make_session_factory(engine)

    async def one_aggregate(segment: str | None = None) -> Any:
        async with factory() as session:
            return await aggregate(session, "cafe", PERIOD, segment)

    async def with_session(call: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        async with factory() as session:
            return await call(session)

    variants: dict[str, Callable[[], Awaitable[Any]]] = {
        "bare_scan": lambda: scalar_rows(engine, BARE),
        "aggregate": one_aggregate,
        "aggregate_segment": lambda: one_aggregate("vip"),
        "naive_group_by": lambda: scalar_rows(engine, NAIVE),
        "top_comments": lambda: with_session(
            lambda s: top_comments(s, "cafe", PERIOD, None, "visit")
        ),
        "response_rates": lambda: with_session(lambda s: response_rates(s, "cafe", PERIOD, None)),
    }
    for call in variants.values():  # warm the page cache and the statement caches
        await call()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeat):  # round-robin: background load falls on every variant
        for name, call in variants.items():
            times[name].append(await timed(call))

    tracemalloc.start()
    result = await one_aggregate()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    checked = await scalar_rows(
        engine, "SELECT count(*) FROM answers WHERE survey_id = 'cafe' AND skipped = 0"
    )
    answered = sum(figures.answers for figures in result.stages.values())
    assert answered == checked[0][0], (answered, checked)
    plans = await plan(engine)
    await engine.dispose()
    path.unlink()

    medians = {name: median(values) for name, values in times.items()}
    bare = medians["bare_scan"]
    return {
        "answers": args.answers,
        "seed_seconds": round(seeded, 1),
        "median_seconds": {k: round(v, 4) for k, v in medians.items()},
        "ratio_to_bare_scan": {k: round(v / bare, 2) for k, v in medians.items()},
        "aggregate_tracemalloc_peak_kib": round(peak / 1024, 1),
        "maxrss_mib": round(maxrss_mib(), 1),
        "plans": plans,
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    payload = asyncio.run(run(args))
    path = write_result("report", payload)
    for key in ("median_seconds", "ratio_to_bare_scan", "plans"):
        print(key, payload[key])
    print("aggregate tracemalloc peak KiB", payload["aggregate_tracemalloc_peak_kib"])
    print("maxrss MiB", payload["maxrss_mib"], "→", path)


if __name__ == "__main__":
    main()
