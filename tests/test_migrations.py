"""Alembic migrations (SPEC §5): every revision upgrades, downgrades and upgrades again
(the stairway test), and the migrated schema is exactly what the models describe. On
SQLite always, on a fresh PostgreSQL database when CJM_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import Column, Connection, MetaData, Table, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import make_engine
from storage.migrate import alembic_config, downgrade, upgrade
from storage.models import JOURNEY_KEY, REPORT_KEY, Base, metadata_on
from tests.support.databases import (
    drop_postgres_database,
    empty_postgres_database,
    postgres_base_url,
)


def revisions() -> list[Script]:
    """From the first revision to the head."""
    script = ScriptDirectory.from_config(alembic_config())
    return list(reversed(list(script.walk_revisions("base", "heads"))))


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_engine(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    """An engine on a brand-new, empty database."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'stairway.db'}")
        yield engine
        await engine.dispose()
        return
    base = postgres_base_url()
    if base is None:
        pytest.skip("PostgreSQL tests need CJM_TEST_POSTGRES_URL")
    url = await empty_postgres_database(base, "cjm_migrations")
    engine = make_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()
        await drop_postgres_database(base, url)


async def tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        names: list[str] = await connection.run_sync(lambda c: inspect(c).get_table_names())
    return set(names) - {"alembic_version"}


async def current_revision(engine: AsyncEngine) -> str | None:
    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(read)


def test_one_linear_history() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1
    chain = revisions()
    assert chain, "no migrations"
    assert chain[0].down_revision is None
    for earlier, later in itertools.pairwise(chain):
        assert later.down_revision == earlier.revision


async def test_stairway(empty_engine: AsyncEngine) -> None:
    model_tables = set(Base.metadata.tables)
    for revision in revisions():
        down = revision.down_revision
        assert down is None or isinstance(down, str), "merge revisions are not expected"

        await upgrade(empty_engine, revision.revision)
        assert await current_revision(empty_engine) == revision.revision
        created = await tables(empty_engine)
        await downgrade(empty_engine, down or "base")
        assert await current_revision(empty_engine) == down
        await upgrade(empty_engine, revision.revision)

        assert await current_revision(empty_engine) == revision.revision
        assert await tables(empty_engine) == created
    assert await tables(empty_engine) == model_tables
    await downgrade(empty_engine, "base")
    assert await tables(empty_engine) == set()


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, metadata_on(connection.dialect.name)))


async def test_migrated_schema_matches_the_models(empty_engine: AsyncEngine) -> None:
    await upgrade(empty_engine)

    async with empty_engine.connect() as connection:
        differences = await connection.run_sync(_differences)

    assert differences == []


def _index_columns(connection: Connection) -> dict[str, list[str | None]]:
    return {
        str(index["name"]): list(index["column_names"])
        for index in inspect(connection).get_indexes("answers")
    }


async def test_report_index_differs_by_dialect(empty_engine: AsyncEngine) -> None:
    """0019: PostgreSQL's report index has no journey columns (their distinct keys undo
    its deduplication); SQLite's keeps them. The other two are alike on both; a
    downgrade gives PostgreSQL 0017's index back."""
    sqlite = empty_engine.dialect.name == "sqlite"
    covering = [*REPORT_KEY, *JOURNEY_KEY]
    await upgrade(empty_engine)
    async with empty_engine.connect() as connection:
        columns = await connection.run_sync(_index_columns)
    assert columns["ix_answers_report"] == (covering if sqlite else list(REPORT_KEY))
    assert columns["ix_answers_nps"] == covering
    assert columns["ix_answers_order_stage"] == ["order_id", "stage", "rating", "question_id"]

    await downgrade(empty_engine, "0018")
    async with empty_engine.connect() as connection:
        columns = await connection.run_sync(_index_columns)
    assert columns["ix_answers_report"] == covering


async def test_answer_day_is_backfilled_in_utc(empty_engine: AsyncEngine) -> None:
    """0002 gives existing answers their UTC day: 01:30 in Moscow on the 16th is 22:30 UTC
    on the 15th."""
    await upgrade(empty_engine, "0001")
    at = datetime(2026, 11, 16, 1, 30, tzinfo=timezone(timedelta(hours=3)))
    rows: dict[str, list[dict[str, Any]]] = {
        "orders": [
            {"id": 1, "external_id": "o1", "survey_id": "cafe", "source": "test",
             "journey": "scheduled", "purchased_at": at, "created_at": at},
        ],
        "dispatches": [
            {"id": 1, "order_id": 1, "survey_id": "cafe", "wave_id": "w", "status": "answered",
             "attempts": 1, "progress": {}, "created_at": at},
        ],
        "answers": [
            {"id": 1, "dispatch_id": 1, "order_id": 1, "survey_id": "cafe", "wave_id": "w",
             "question_id": "q", "stage": "s", "kind": "rating", "rating": 5,
             "skipped": False, "answered_at": at},
        ],
    }  # fmt: skip
    # The 0001 shape of the tables (no `day`), with the models' column types.
    async with empty_engine.begin() as connection:
        for name, values in rows.items():
            model = Base.metadata.tables[name]
            columns = (Column(c.name, c.type) for c in model.c if c.name != "day")
            shape = Table(name, MetaData(), *columns)
            await connection.execute(shape.insert(), values)

    await upgrade(empty_engine)

    answers = Base.metadata.tables["answers"]
    async with empty_engine.connect() as connection:
        day = (await connection.execute(select(answers.c.day))).scalar_one()
    assert day == date(2026, 11, 15)
