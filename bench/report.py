"""The report aggregation over N synthetic answers, against a bare scan, on SQLite or
PostgreSQL.

    taskset -c 0 .venv/bin/python -m bench.report                      # 1M answers, SQLite
    taskset -c 0 .venv/bin/python -m bench.report --answers 10000000   # 10M
    taskset -c 0 .venv/bin/python -m bench.report --database postgres  # 1M, PostgreSQL

The N answers are spread evenly over the twelve reported weeks (84 UTC days), so the
report reads every one of them. Two phases, each timed round-robin against
`SELECT count(*), sum(rating) FROM answers` (a full scan, nothing grouped) in the same
run: first `aggregate()` with no rollup (every answer read from the covering index),
then — after one `rollups.refresh()` as the scheduler runs it, timed too — `aggregate()`
as reports run it: 83 closed days from the rollup, the last (still open) day from the
answers. Seeding runs in a child process, so the peak RSS of this process is the
aggregation's; tracemalloc measures one aggregate call on its own.

Seeding, the rollups and the first report (which reads every comment) take minutes at
1M, so on SQLite `--keep FILE` saves the database as the timed rounds found it and
`--reuse FILE` times the rounds on a copy of it (bare scan, aggregate, build_report),
skipping everything before: two versions of the code compared on the same data. On
PostgreSQL `--reuse URL` times the rounds on that database itself, seeded and built
before (readings, rollups, theme rollup), as `bench/README.md` of 2026-12-07 did it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import multiprocessing
import os
import random
import shutil
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

from bench.common import machine, maxrss_mib, median, rss_mib, write_result
from reports import rollups
from reports.aggregate import Period, _cells_query, aggregate, response_rates, top_comments
from reports.report import build_report
from reports.theme_rollup import refresh_themes
from reports.themes import ThemeFigure, Voices, build_voices
from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade
from surveys.loader import load_survey
from tests.support.databases import (
    drop_postgres_database,
    empty_postgres_database,
    postgres_base_url,
)

PERIOD = Period(date(2026, 8, 10), date(2026, 11, 2))  # 84 days, Monday to Sunday
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)  # the period's last day is still open
# The bundled cafe survey's stages, touchpoints and emotions, so that the whole report
# (build_report) can be built over the synthetic answers too.
CAFE = load_survey("cafe")
CELLS = [
    (stage.id, touchpoint)
    for stage in CAFE.stages
    for touchpoint in (*(t.id for t in stage.touchpoints), None)  # None: stage-level
]
EMOTIONS = tuple((emotion.id, emotion.valence) for emotion in CAFE.emotions)
SEGMENTS = ("a", "b", "vip")
BARE = "SELECT count(*), sum(rating) FROM answers"
# What the issue measured as "naive": grouping by the cells alone, filtering on the
# timestamp. SQLite then sorts every row of the period in a temporary B-tree.
NAIVE = """
SELECT stage, touchpoint, emotion, count(*), sum(rating), count(rating), count(nps)
FROM answers WHERE survey_id = 'cafe' AND answered_at >= '2026-08-10' AND
answered_at < '2026-11-02' GROUP BY stage, touchpoint, emotion
"""


def synthetic(n: int, seed: int = 7) -> Iterator[tuple[Any, ...]]:
    """Rows for answers in the order they arrive (time-sorted): 40 % ratings, 10 % NPS,
    20 % emotions, 10 % choices, 20 % texts (half skipped), over the days of PERIOD."""
    rng = random.Random(seed)
    start = datetime.combine(PERIOD.start, datetime.min.time(), tzinfo=UTC)
    step = PERIOD.days * 86_400 / n
    for i in range(1, n + 1):
        at = start + timedelta(seconds=(i - 1) * step)
        stage, touchpoint = rng.choice(CELLS)
        roll = rng.random()
        rating = nps = emotion = valence = choice = comment = None
        skipped = False
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
            skipped = rng.random() < 0.5
            comment = None if skipped else f"comment {i}"
        yield (
            i, i // 5 + 1, i // 5 + 1, None, "cafe", "w", f"q{i % 5}", stage, touchpoint,
            kind, rng.choice(SEGMENTS), rating, nps, emotion, valence, choice, comment,
            skipped, at, at.date(),
        )  # fmt: skip


COLUMNS = (
    "id", "dispatch_id", "order_id", "customer_id", "survey_id", "wave_id", "question_id",
    "stage", "touchpoint", "kind", "segment", "rating", "nps", "emotion", "valence",
    "choice", "comment", "skipped", "answered_at", "day",
)  # fmt: skip


def chunks(n: int, size: int = 50_000) -> Iterator[list[tuple[Any, ...]]]:
    rows = synthetic(n)
    while chunk := [row for _, row in zip(range(size), rows, strict=False)]:
        yield chunk


def seed_sqlite(path: Path, n: int) -> None:
    """Raw sqlite3 executemany: seeding speed is not what is measured. The foreign keys
    are not enforced here (no orders/dispatches rows): the aggregate joins nothing."""
    connection = sqlite3.connect(path)
    statement = f"INSERT INTO answers ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * 20)})"
    for chunk in chunks(n):
        # Stored as the product stores them: naive UTC text, 0/1, ISO dates.
        connection.executemany(
            statement,
            [
                (*row[:17], int(row[17]), row[18].replace(tzinfo=None).isoformat(sep=" "),
                 row[19].isoformat())
                for row in chunk
            ],
        )  # fmt: skip
        connection.commit()
    connection.execute("ANALYZE")
    connection.commit()
    connection.close()


async def _seed_postgres(url: str, n: int) -> None:
    engine = make_engine(url)
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection  # asyncpg's, for COPY
        # No orders/dispatches rows: foreign-key triggers are off for this session only.
        await driver.execute("SET session_replication_role = replica")
        for chunk in chunks(n):
            await driver.copy_records_to_table("answers", records=chunk, columns=COLUMNS)
        await driver.execute("VACUUM ANALYZE answers")
    await engine.dispose()


def seed(database: str, target: str, n: int) -> None:
    if database == "sqlite":
        seed_sqlite(Path(target), n)
    else:
        asyncio.run(_seed_postgres(target, n))


def seed_in_child(database: str, target: str, n: int) -> float:
    """Seeded by another process: its memory does not count in this one's peak RSS."""
    started = time.perf_counter()
    child = multiprocessing.get_context("spawn").Process(target=seed, args=(database, target, n))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"seeding failed (exit {child.exitcode})")
    return time.perf_counter() - started


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


async def prepare(database: str, directory: Path) -> tuple[str, str]:
    """(SQLAlchemy URL, what the seeder connects to), migrated to head."""
    if database == "sqlite":
        path = directory / "report.db"
        url = f"sqlite+aiosqlite:///{path}"
        target = str(path)
    else:
        base = postgres_base_url()
        if base is None:
            raise SystemExit("set CJM_TEST_POSTGRES_URL to bench on PostgreSQL")
        url = target = await empty_postgres_database(base, prefix="cjm_bench")
    engine = make_engine(url)
    await upgrade(engine)
    await engine.dispose()
    return url, target


async def rounds(
    variants: dict[str, Callable[[], Awaitable[Any]]], repeat: int
) -> dict[str, float]:
    for call in variants.values():  # warm the page cache and the statement caches
        await call()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeat):  # round-robin: background load falls on every variant
        for name, call in variants.items():
            times[name].append(await timed(call))
    return {name: median(values) for name, values in times.items()}


def counts_of(voices: Voices) -> dict[str, Any]:
    """The voice lanes' figures without their quotes (a long live stretch takes them from
    its newest week only)."""

    def lane(figures: tuple[ThemeFigure, ...]) -> list[tuple[Any, ...]]:
        return [(f.id, f.customers, f.share, f.change) for f in figures]

    return {
        stage: (
            voice.unhappy, lane(voice.pain), lane(voice.praise), lane(voice.suggestions),
            {tp: lane(figures) for tp, figures in voice.touchpoints.items()},
        )
        for stage, voice in voices.stages.items()
    }  # fmt: skip


async def profiled(call: Callable[[], Awaitable[Any]], path: str) -> None:
    """One call under cProfile, written to `path` (after the timed rounds)."""
    profiler = cProfile.Profile()
    profiler.enable()
    await call()
    profiler.disable()
    profiler.dump_stats(path)


async def rolled_rounds(
    engine: AsyncEngine, factory: Callable[[], AsyncSession], args: argparse.Namespace
) -> dict[str, float]:
    """The rounds as reports run them: closed days from the rollups, the open one live."""

    async def one_aggregate(segment: str | None = None) -> Any:
        async with factory() as session:
            return await aggregate(session, "cafe", PERIOD, segment)

    async def report() -> Any:
        async with factory() as session:
            return await build_report(session, CAFE, PERIOD, NOW)

    rolled = await rounds(
        {
            "bare_scan": lambda: scalar_rows(engine, BARE),
            "aggregate": one_aggregate,
            "aggregate_segment": lambda: one_aggregate("vip"),
            # The whole report: both periods, comments of every stage, priorities.
            "build_report": report,
        },
        args.repeat,
    )
    if args.profile:
        await profiled(report, args.profile)
    return rolled


async def reuse(args: argparse.Namespace) -> dict[str, Any]:
    """Only the timed rounds, on a copy of a database kept by `--keep` (SQLite), or on a
    PostgreSQL database a full run left seeded, its readings and rollups built (its URL:
    the rounds only read, but for the rollups' refresh)."""
    path: Path | None = None
    if args.database == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix="bench-report-"))
        path = directory / "report.db"
        await asyncio.to_thread(shutil.copyfile, args.reuse, path)
        url = f"sqlite+aiosqlite:///{path}"
    else:
        url = args.reuse
    engine = make_engine(url)
    factory = make_session_factory(engine)
    # A database kept by older code gets this code's tables and the rollups' new levels,
    # as the migration and the scheduler's next refresh would give them.
    await upgrade(engine)
    await rollups.refresh_survey(factory, CAFE, NOW + timedelta(minutes=15))
    rss_before = rss_mib()
    rolled = await rolled_rounds(engine, factory, args)
    rss_after = rss_mib()
    await engine.dispose()
    if path is not None:
        await asyncio.to_thread(path.unlink)
    return {
        "database": args.database,
        "answers": args.answers,
        "days": PERIOD.days,
        "reused": str(args.reuse),
        "gc_frozen": True,
        "median_seconds": {k: round(v, 4) for k, v in rolled.items()},
        "ratio_to_bare_scan": {k: round(v / rolled["bare_scan"], 3) for k, v in rolled.items()},
        "rss_mib_before_after": (round(rss_before, 1), round(rss_after, 1)),
        "maxrss_mib": round(maxrss_mib(), 1),
        "machine": machine(),
    }


def freeze_as_the_worker_does() -> None:
    """The report worker (reports.worker) freezes what it imported before drawing the
    report; a bench process timing reports one after another does the same once it is
    set up, so the collector's full passes scan what a report makes, not the modules."""
    gc.freeze()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="bench-report-"))
    url, target = await prepare(args.database, directory)
    seeded = seed_in_child(args.database, target, args.answers)

    engine = make_engine(url)
    factory = make_session_factory(engine)
    rss_before = rss_mib()

    async def one_aggregate(segment: str | None = None) -> Any:
        async with factory() as session:
            return await aggregate(session, "cafe", PERIOD, segment)

    async def with_session(call: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        async with factory() as session:
            return await call(session)

    bare = lambda: scalar_rows(engine, BARE)  # noqa: E731
    live = await rounds(
        {
            "bare_scan": bare,
            "aggregate_live": one_aggregate,
            "aggregate_live_segment": lambda: one_aggregate("vip"),
            "naive_group_by": lambda: scalar_rows(engine, NAIVE),
            "top_comments": lambda: with_session(
                lambda s: top_comments(s, "cafe", PERIOD, None, "purchase")
            ),
            "response_rates": lambda: with_session(
                lambda s: response_rates(s, "cafe", PERIOD, None)
            ),
        },
        args.repeat,
    )
    expected = await one_aggregate()
    started = time.perf_counter()
    refreshed = await rollups.refresh_survey(factory, CAFE, NOW)
    built = time.perf_counter() - started
    days_built = len(refreshed.built)

    def report() -> Awaitable[Any]:
        return with_session(lambda s: build_report(s, CAFE, PERIOD, NOW))

    def voices() -> Awaitable[Any]:
        return with_session(lambda s: build_voices(s, CAFE, PERIOD))

    # No comment has a reading yet: the first report reads (and keeps) every one.
    first_report = await timed(report)
    # The theme counts live (before the theme rollup): every comment's reading counted.
    themes_live = await rounds({"bare_scan": bare, "build_report_themes_live": report}, 3)
    voices_live = await voices()
    started = time.perf_counter()
    themed = await refresh_themes(factory, CAFE, NOW)
    theme_build = time.perf_counter() - started
    theme_days = await scalar_rows(
        engine, "SELECT count(*) FROM theme_days WHERE built_at IS NOT NULL"
    )
    assert theme_days[0][0] == days_built and themed, (theme_days, days_built)
    started = time.perf_counter()
    await rollups.refresh_survey(factory, CAFE, NOW + timedelta(minutes=15))
    idle_refresh = time.perf_counter() - started
    assert counts_of(await voices()) == counts_of(voices_live), "the theme rollup changed them"
    if args.keep:
        await keep(engine, args.keep)
    rolled = await rolled_rounds(engine, factory, args)
    tracemalloc.start()
    result = await one_aggregate()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result == expected, "the rollup changed the figures"
    checked = await scalar_rows(
        engine, "SELECT count(*) FROM answers WHERE survey_id = 'cafe' AND NOT skipped"
    )
    answered = sum(figures.answers for figures in result.stages.values())
    assert answered == checked[0][0], (answered, checked)
    plans = await plan(engine) if args.database == "sqlite" else {}
    rss_after = rss_mib()
    await engine.dispose()
    if args.database == "sqlite":
        await asyncio.to_thread(Path(target).unlink)
    else:
        await drop_postgres_database(postgres_base_url() or "", url)

    def ratios(medians: dict[str, float]) -> dict[str, float]:
        return {k: round(v / medians["bare_scan"], 3) for k, v in medians.items()}

    return {
        "database": args.database,
        "answers": args.answers,
        "days": PERIOD.days,
        "seed_seconds": round(seeded, 1),
        "live_median_seconds": {k: round(v, 4) for k, v in live.items()},
        "live_ratio_to_bare_scan": ratios(live),
        "rollup_build_seconds": round(built, 2),
        "rollup_days_built": days_built,
        "rollup_idle_refresh_seconds": round(idle_refresh, 4),
        "first_report_seconds": round(first_report, 2),
        "themes_live_median_seconds": {k: round(v, 4) for k, v in themes_live.items()},
        "themes_live_ratio_to_bare_scan": ratios(themes_live),
        "theme_rollup_build_seconds": round(theme_build, 2),
        "median_seconds": {k: round(v, 4) for k, v in rolled.items()},
        "ratio_to_bare_scan": ratios(rolled),
        "aggregate_tracemalloc_peak_kib": round(peak / 1024, 1),
        "rss_mib_before_after": (round(rss_before, 1), round(rss_after, 1)),
        "maxrss_mib": round(maxrss_mib(), 1),
        "plans": plans,
        "gc_frozen": True,
        "machine": machine(),
    }


async def keep(engine: AsyncEngine, target: str) -> None:
    """A consistent copy of the SQLite database, made by SQLite itself."""
    await asyncio.to_thread(Path(target).unlink, missing_ok=True)
    async with engine.connect() as connection:
        await connection.exec_driver_sql(f"VACUUM INTO '{target}'")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--profile", help="write a cProfile of one build_report here")
    parser.add_argument("--keep", help="SQLite: save the database the rounds ran on here")
    parser.add_argument(
        "--reuse",
        help="time the rounds only: SQLite, on a copy of this file; PostgreSQL, on the "
        "database of this URL (seeded, readings and rollups built)",
    )
    args = parser.parse_args()
    if args.keep and args.database != "sqlite":
        parser.error("--keep is for SQLite")
    freeze_as_the_worker_does()
    payload = asyncio.run(reuse(args) if args.reuse else run(args))
    path = write_result(f"report-{args.database}-{args.answers}", payload)
    if args.reuse:
        print("median_seconds", payload["median_seconds"])
        print("ratio_to_bare_scan", payload["ratio_to_bare_scan"])
        print("→", path, f"(pid {os.getpid()})")
        return
    for key in (
        "live_median_seconds", "live_ratio_to_bare_scan", "rollup_build_seconds",
        "rollup_idle_refresh_seconds", "first_report_seconds", "themes_live_median_seconds",
        "themes_live_ratio_to_bare_scan", "theme_rollup_build_seconds", "median_seconds",
        "ratio_to_bare_scan", "plans",
    ):  # fmt: skip
        print(key, payload[key])
    print("aggregate tracemalloc peak KiB", payload["aggregate_tracemalloc_peak_kib"])
    print("RSS MiB before/after", payload["rss_mib_before_after"], "peak", payload["maxrss_mib"])
    print("→", path, f"(pid {os.getpid()})")


if __name__ == "__main__":
    main()
