"""Planner statistics on SQLite (`sqlite_stat1`), kept by the product itself.

Without statistics SQLite's planner weighs every index by fixed guesses (an equality
on an index's first column keeps ~10 rows), so a survey id looks selective though it is
every answer of a one-shop database. At 1M answers that cost, measured on the bench's
database with its statistics deleted: the rollup's search for a day's comments with
comments on other days (reports.theme_rollup) 6 ms → 23 s a day (a correlated scan of
every comment of the stage instead of a seek by journey), the customer sums' read of
the journeys' earlier ratings 1 ms → 0.3 s, the unread-comments scan 0 → 14 ms; and
statistics for some indexes but not others (an index rebuilt by a migration) sent the
unread-comments scan to the report index (a report took 1.1 s).

So the product runs ANALYZE itself, when it is needed and cheap to know: after the
migrations (every start-up) and after a rollup refresh that built a day (once a day, an
hour after midnight UTC), for each table with rows that was never analysed, whose full
indexes are not all analysed (one created since), or that grew GROWTH-fold since. That
is `PRAGMA optimize`'s rule (which uses 25-fold), written out because SQLite before
3.46 only applies it to the tables the calling connection has queried — a pooled
connection's history, not something to rely on. A database analyses at most a few
times in its life (at ~10, 100, 1,000 … rows): ANALYZE reads every index once (0.7 s
of SQLite at 1M answers) and holds the write lock meanwhile, which writers wait out
(busy_timeout).

PostgreSQL's autovacuum analyses tables as they change, within a minute or so — when it
is on. A table that fills from empty inside one job is the exception: the readings of a
first report (`comment_readings`, ~100,000 rows at 1M answers, in batches of 1,000) were
looked up by a plan made while the planner knew nothing of the table's size. asyncpg
prepares its statements and PostgreSQL keeps a generic plan for one after five
executions: the unread-comments anti-join was planned with `comment_readings` taken for
~20 rows, as a nested loop over a materialised scan of the whole table, and each batch's
query went from 0.1 s to 33 s at 15,000 readings (EXPLAIN ANALYZE: 127 million join
comparisons). So the writer of such a table analyses it once it has rows and PostgreSQL
has never counted its pages (`analyse_new_table`); the planner then scales the row count
by the table's pages as it grows, and the generic plan probes the primary key.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

log = logging.getLogger(__name__)

GROWTH = 10  # rows since the last ANALYZE of a table, as a multiple of its rows then


def stale_tables(connection: Connection) -> list[str]:
    """The tables ANALYZE should read again (SQLite)."""
    indexes: dict[str, list[tuple[str, bool]]] = {}
    for table, name, sql in connection.exec_driver_sql(
        "SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'index'"
    ):
        # A partial index with no entry gets no statistics: it cannot ask for them.
        partial = sql is not None and " WHERE " in sql.upper()
        indexes.setdefault(table, []).append((name, partial))
    analysed: dict[str, dict[str, int]] = {}
    has_stat1 = connection.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"
    ).first()
    if has_stat1:
        for table, index, stat in connection.exec_driver_sql(
            "SELECT tbl, idx, stat FROM sqlite_stat1 WHERE idx IS NOT NULL"
        ):
            analysed.setdefault(table, {})[index] = int(str(stat).split()[0])
    without_rowid = {
        name
        for name, sql in connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table'"
        )
        if sql is not None and "WITHOUT ROWID" in sql.upper()
    }
    stale = []
    for table, names in sorted(indexes.items()):
        quoted = '"' + table.replace('"', '""') + '"'
        count = f"SELECT count(*) FROM {quoted}"
        # The rowids' span bounds the rows from above and takes two seeks, where
        # count(*) reads a whole index (32 ms at 10M answers with the file cached, 0.5 s
        # from disk, at every start-up): the rows are counted only when the bound says
        # the table may have outgrown its statistics. One min() or max() per SELECT:
        # SQLite seeks only for those.
        last, first = (f"(SELECT {end}(rowid) FROM {quoted})" for end in ("max", "min"))
        span = count if table in without_rowid else f"SELECT {last} - {first} + 1"
        bound = connection.exec_driver_sql(span).scalar()
        if not bound:
            continue  # ANALYZE writes nothing for an empty table
        known = analysed.get(table, {})
        unanalysed = any(name not in known for name, partial in names if not partial)
        if not known or unanalysed:
            stale.append(table)
            continue
        limit = GROWTH * max(known.values())
        if bound >= limit and (table in without_rowid or _rows(connection, count) >= limit):
            stale.append(table)
    return stale


def _rows(connection: Connection, count: str) -> int:
    return int(connection.exec_driver_sql(count).scalar_one())


def _analyse(connection: Connection) -> list[str]:
    tables = stale_tables(connection)
    for table in tables:
        connection.exec_driver_sql('ANALYZE "' + table.replace('"', '""') + '"')
    return tables


async def keep_statistics(connection: AsyncConnection) -> list[str]:
    """ANALYZE the SQLite tables whose statistics are missing or outgrown, in the
    caller's transaction; the tables analysed (none on PostgreSQL)."""
    if connection.dialect.name != "sqlite":
        return []
    tables = await connection.run_sync(_analyse)
    if tables:
        log.info("planner statistics: analysed %s", ", ".join(tables))
    return tables


async def analyse_new_table(session: AsyncSession, table: str) -> bool:
    """PostgreSQL: ANALYZE `table` (which the caller has just written rows to and
    committed) when the planner has never been told its size, and commit; whether it did.
    One look at `pg_class` otherwise; nothing on SQLite."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    unknown = await session.scalar(
        text("SELECT relpages = 0 FROM pg_class WHERE oid = to_regclass(:table)"),
        {"table": table},
    )
    if not unknown:
        await session.commit()
        return False
    await session.execute(text('ANALYZE "' + table.replace('"', '""') + '"'))
    await session.commit()
    log.info("planner statistics: analysed %s", table)
    return True


async def plan_for_values(session: AsyncSession) -> None:
    """PostgreSQL: the statements of the session's transaction are planned for their
    parameters' values each time, never by a cached generic plan (nothing on SQLite).

    For statements whose best plan depends on a range's width: asyncpg prepares every
    statement, and after five executions on a connection PostgreSQL may keep a generic
    plan, made with a default guess for `answered_at BETWEEN $2 AND $3`. The unread
    comments of one day (`ORDER BY id LIMIT`) were then sought by walking the primary
    key over all 1M answers, 274 ms, instead of the day's 1,231 comments on
    `ix_answers_comments`, 10 ms (EXPLAIN ANALYZE on the 1M bench)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
