"""SQLite's plans of the report's hot reads (storage.statistics, migration 0017).

The report index covers the open day's customer read and the NPS journeys' read; a
covering index also looks cheap to a planner without statistics, so these tests pin
down which index each hot statement uses — as the rollup job and a report run them on
the bench's synthetic answers — with no statistics, with the statistics ANALYZE gives,
with the 1M-answer bench's, and after 0017 rebuilt the indexes of a database that had
statistics. The unread-comments scan must stay on `ix_answers_comments` in every case:
it left it once (a report took 1.1 s instead of 0.2)."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event

from bench.report import CAFE, COLUMNS, NOW, PERIOD, seed_sqlite
from reports import rollups
from reports.report import build_report
from storage.db import make_engine, make_session_factory
from storage.migrate import downgrade, upgrade
from storage.statistics import GROWTH, stale_tables

ANSWERS = 8_400  # 100 a day over the bench's 84 days

# (what, a piece of the statement's text, the plan line it must contain, also without
# statistics). Without statistics SQLite seeks by the survey on the report index for the
# journeys' earlier ratings and the comments spread over days (slow at 1M: 0.3 s and
# 23 s a day): those two are right only with statistics, which the product keeps.
HOT = [
    ("a day's customer read",
     "answers.order_id, answers.segment, answers.stage, answers.touchpoint, answers.rating",
     "SEARCH answers USING COVERING INDEX ix_answers_report (survey_id=? AND day", True),
    ("newest NPS answers", "SELECT answers.order_id, answers.nps FROM answers",
     "SEARCH answers USING COVERING INDEX ix_answers_nps (survey_id=? AND day", True),
    ("NPS journeys' ratings",
     "SELECT answers.order_id, answers.stage, answers.question_id, answers.rating",
     "SEARCH answers USING COVERING INDEX ix_answers_order_stage (order_id=?)", True),
    ("unread comments", "SELECT answers.id, answers.comment FROM answers",
     "SEARCH answers USING INDEX ix_answers_comments", True),
    ("quotes", "SELECT answers.comment, answers.answered_at, answers.touchpoint, (SELECT",
     "SEARCH answers USING INDEX ix_answers_comments (survey_id=? AND stage=?", True),
    ("word sample", "SELECT answers.id, answers.order_id, answers.question_id, (SELECT",
     "SEARCH answers USING INDEX ix_answers_comments (survey_id=? AND stage=?", True),
    ("open day's choices", "SELECT answers.question_id, answers.choice, count(*)",
     "SEARCH answers USING COVERING INDEX ix_answers_choices (survey_id=? AND day", True),
    ("journeys' earlier ratings",
     "SELECT answers.order_id, answers.day, answers.stage, answers.rating FROM answers",
     "SEARCH answers USING INDEX ix_answers_order_stage (order_id=?)", False),
    ("comments spread over days", "SELECT DISTINCT answers.order_id, answers.stage",
     "SEARCH answers_1 USING INDEX ix_answers_order_stage (order_id=? AND stage=?)", False),
]  # fmt: skip

# sqlite_stat1 of the answers' indexes on the bench's 1M database after 0018 (ANALYZE).
BENCH_1M = {
    "ix_answers_nps": "100198 100198 1193 199 48 48 16 16 16 16 2 2 1 1",
    "ix_answers_report": "1000000 1000000 11905 1985 477 69 23 16 15 11 8 8 1 1",
    "ix_answers_order_stage": "1000000 5 2 2 1",
    "ix_answers_choices": "99843 99843 1189 238 238 80",
    "ix_answers_comments": "100750 100750 16792 1",
    "ix_answers_customer_id": "1000000 1000000",
    "sqlite_autoindex_answers_1": "1000000 5 1",
}


def _url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def _run_as_the_product(path: Path) -> list[tuple[str, Any]]:
    """The rollup job, a report over the period (its last day still open) and the next
    day's rollup job, with every SELECT they ran and its parameters, in order."""
    engine = make_engine(_url(path))
    statements: list[tuple[str, Any]] = []

    def seen(*args: Any) -> None:
        _, _, statement, parameters, _, executemany = args
        if not executemany and statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    factory = make_session_factory(engine)
    await rollups.refresh_survey(factory, CAFE, NOW)
    async with factory() as session:
        await build_report(session, CAFE, PERIOD, NOW)  # reads and keeps every comment
    # The theme rollup builds a day once its comments are read (reports.theme_rollup).
    await rollups.refresh_survey(factory, CAFE, NOW + timedelta(days=1))
    await engine.dispose()
    return statements


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A database at head with the bench's answers, and the hot statements the product
    ran on it (one each)."""
    path = tmp_path_factory.mktemp("plans") / "plans.db"

    async def build() -> list[tuple[str, Any]]:
        engine = make_engine(_url(path))
        await upgrade(engine)
        await engine.dispose()
        seed_sqlite(path, ANSWERS)
        return await _run_as_the_product(path)

    ran = asyncio.run(build())
    hot = {}
    for what, piece, _, _ in HOT:
        found = [(s, p) for s, p in ran if piece in " ".join(s.split())]
        assert found, f"the product no longer runs the {what} read: update HOT"
        hot[what] = found[0]
    return path, hot


def _plans(path: Path, hot: dict[str, Any]) -> dict[str, str]:
    connection = sqlite3.connect(path)  # a new connection loads sqlite_stat1 as it is now
    try:
        return {
            what: " | ".join(row[-1] for row in connection.execute(f"EXPLAIN QUERY PLAN {s}", p))
            for what, (s, p) in hot.items()
        }
    finally:
        connection.close()


def _set_statistics(path: Path, rows: dict[str, str] | None) -> None:
    """No statistics (None), ANALYZE's ({}), or these rows for the answers' indexes."""
    connection = sqlite3.connect(path)
    connection.execute("ANALYZE")
    if rows is None:
        connection.execute("DELETE FROM sqlite_stat1")
    elif rows:
        connection.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'answers'")
        connection.executemany(
            "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('answers', ?, ?)", rows.items()
        )
    connection.commit()
    connection.close()


def _assert_hot_plans(plans: dict[str, str], with_statistics: bool) -> None:
    for what, _, expected, without in HOT:
        if with_statistics or without:
            assert expected in plans[what], (what, plans[what])


@pytest.mark.parametrize("statistics", ["none", "analyzed", "bench-1M"])
def test_hot_reads_use_their_index(
    seeded: tuple[Path, dict[str, Any]], tmp_path: Path, statistics: str
) -> None:
    path, hot = seeded
    copy = tmp_path / "copy.db"
    copy.write_bytes(path.read_bytes())
    rows = {"none": None, "analyzed": {}, "bench-1M": BENCH_1M}[statistics]
    _set_statistics(copy, rows)
    _assert_hot_plans(_plans(copy, hot), with_statistics=rows is not None)


async def test_indexes_rebuilt_by_0017_are_analysed_again(
    seeded: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """A database analysed before 0017: the rebuilt indexes lose their statistics while
    the others keep theirs — the mix that sent the unread-comments scan to the report
    index. 0017 analyses the table again."""
    path, hot = seeded
    copy = tmp_path / "copy.db"
    copy.write_bytes(path.read_bytes())
    engine = make_engine(_url(copy))
    await downgrade(engine, "0016")
    _set_statistics(copy, {})
    await upgrade(engine)
    await engine.dispose()
    connection = sqlite3.connect(copy)
    analysed = {i for (i,) in connection.execute("SELECT idx FROM sqlite_stat1")}
    connection.close()
    assert {"ix_answers_report", "ix_answers_order_stage"} <= analysed
    _assert_hot_plans(_plans(copy, hot), with_statistics=True)


def _stale(path: Path) -> list[str]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            return stale_tables(connection)
    finally:
        engine.dispose()


def test_statistics_are_kept_when_missing_outgrown_or_an_index_is_new(tmp_path: Path) -> None:
    path = tmp_path / "stats.db"
    connection = sqlite3.connect(path)
    connection.executescript(
        """
        CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT);
        CREATE INDEX t_a ON t (a);
        CREATE INDEX t_b ON t (a) WHERE b IS NOT NULL;  -- no entry: no statistics
        CREATE TABLE empty (id INTEGER PRIMARY KEY, a INTEGER);
        CREATE INDEX empty_a ON empty (a);
        """
    )
    connection.executemany("INSERT INTO t (a) VALUES (?)", [(i,) for i in range(10)])
    connection.commit()
    assert _stale(path) == ["t"]  # never analysed; an empty table has nothing to analyse
    connection.execute("ANALYZE")
    connection.commit()
    assert _stale(path) == []
    rows = [(i,) for i in range(10 * (GROWTH - 1) - 1)]
    connection.executemany("INSERT INTO t (a) VALUES (?)", rows)
    connection.commit()
    assert _stale(path) == []  # not yet GROWTH times the rows analysed
    connection.execute("INSERT INTO t (a) VALUES (0)")
    connection.commit()
    assert _stale(path) == ["t"]
    connection.execute("ANALYZE")
    connection.execute("CREATE INDEX t_ab ON t (a, b)")
    connection.commit()
    assert _stale(path) == ["t"]  # a full index without statistics
    connection.close()


def test_growth_is_the_rows_not_the_ids_nor_the_kind_of_table(tmp_path: Path) -> None:
    """The rows are bounded by the rowids' span and counted only past the bound: sparse
    ids (a reading keyed by its answer's id), deleted rows and a table without rowids
    are judged by their rows, as before."""
    path = tmp_path / "sparse.db"
    connection = sqlite3.connect(path)
    connection.executescript(
        """
        CREATE TABLE sparse (id INTEGER PRIMARY KEY, a INTEGER);
        CREATE INDEX sparse_a ON sparse (a);
        CREATE TABLE keyed (k TEXT PRIMARY KEY, a INTEGER) WITHOUT ROWID;
        CREATE INDEX keyed_a ON keyed (a);
        """
    )
    connection.executemany("INSERT INTO sparse VALUES (?, ?)", [(i * 100, i) for i in range(10)])
    connection.executemany("INSERT INTO keyed VALUES (?, ?)", [(str(i), i) for i in range(10)])
    connection.execute("ANALYZE")
    connection.commit()
    more = range(10, 10 * GROWTH - 1)
    connection.executemany("INSERT INTO sparse VALUES (?, ?)", [(i * 100, i) for i in more])
    connection.executemany("INSERT INTO keyed VALUES (?, ?)", [(str(i), i) for i in more])
    connection.commit()
    assert _stale(path) == []  # ids spread 100-fold, rows not yet GROWTH-fold
    connection.execute("INSERT INTO sparse VALUES (?, 0)", (10**9,))
    connection.execute("INSERT INTO keyed VALUES ('x', 0)")
    connection.commit()
    assert _stale(path) == ["keyed", "sparse"]
    connection.execute("DELETE FROM sparse WHERE id BETWEEN 1 AND 5000")
    connection.commit()
    assert _stale(path) == ["keyed"]  # the span is as wide as ever, the rows are fewer
    connection.close()


def _unanalysed_copy(seeded: tuple[Path, dict[str, Any]], tmp_path: Path) -> Path:
    """The seeded database as a product's was before it kept statistics."""
    copy = tmp_path / "copy.db"
    copy.write_bytes(seeded[0].read_bytes())
    _set_statistics(copy, None)
    return copy


async def test_start_up_analyses_a_database_never_analysed(
    seeded: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    copy = _unanalysed_copy(seeded, tmp_path)
    engine = make_engine(_url(copy))
    await upgrade(engine)  # at head already: what every start-up runs
    await engine.dispose()
    assert _stale(copy) == []


async def test_a_refresh_that_builds_a_day_keeps_the_statistics(
    seeded: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    copy = _unanalysed_copy(seeded, tmp_path)
    engine = make_engine(_url(copy))
    factory = make_session_factory(engine)
    later = NOW + timedelta(days=2)
    await rollups.refresh_survey(factory, CAFE, later)  # no day to build: untouched
    assert _stale(copy) != []
    # One answer the day after: built by the next refresh, which analyses what needs it.
    others = ", ".join(c for c in COLUMNS if c not in ("id", "question_id", "answered_at", "day"))
    connection = sqlite3.connect(copy)
    connection.execute(
        f"INSERT INTO answers ({others}, question_id, answered_at, day) SELECT {others}, "
        "'late', '2026-11-02 10:00:00.000000', '2026-11-02' FROM answers ORDER BY id LIMIT 1"
    )
    connection.commit()
    connection.close()
    await rollups.refresh_survey(factory, CAFE, later)
    await engine.dispose()
    assert _stale(copy) == []
