"""storage.sqlite_hops: the SQLite engine's statements each make one round trip to the
connection's thread, and give what aiosqlite's cursor gives."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage import sqlite_hops
from storage.db import make_engine, transient_db_error

ROWS = sqlite_hops.READ_AHEAD * 3 + 7  # more than one read-ahead, not a multiple of it
metadata = MetaData()
items = Table(
    "items", metadata,
    Column("id", Integer, primary_key=True), Column("name", String(20), unique=True),
)  # fmt: skip


@pytest.fixture
async def engines(tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """The product's engine, and one on aiosqlite as it comes, on two files alike."""
    ours = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'ours.db'}")
    plain = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'plain.db'}")
    for engine in (ours, plain):
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.execute(insert(items), [{"name": f"n{i}"} for i in range(ROWS)])
    yield ours, plain
    await ours.dispose()
    await plain.dispose()


async def both(
    engines: tuple[AsyncEngine, AsyncEngine], work: Callable[[Any], Any]
) -> tuple[Any, Any]:
    found = []
    for engine in engines:
        async with engine.begin() as conn:
            found.append(await work(conn))
    return found[0], found[1]


async def test_one_round_trip_per_statement_and_none_for_no_transaction(
    engines: tuple[AsyncEngine, AsyncEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, _ = engines
    trips: list[str] = []
    original = sqlite_hops.Connection._execute

    async def counted(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(fn, "__name__", "?"))
        return await original(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    async with ours.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.driver_connection, sqlite_hops.Connection)
        await conn.execute(text("SELECT 1"))  # the transaction has begun
        monkeypatch.setattr(sqlite_hops.Connection, "_execute", counted)
        assert (await conn.execute(select(items.c.name).where(items.c.id == 5))).scalar() == "n4"
        assert trips == ["run"]
        await conn.execute(update(items).where(items.c.id == 5).values(name="five"))
        assert trips == ["run", "run"]
        await conn.rollback()
        assert trips == ["run", "run", "rollback"]
        await conn.execute(select(items.c.name).limit(3))  # reads alone open no transaction
    # The pool's rollback of a connection coming back, with nothing left to roll back.
    assert trips == ["run", "run", "rollback", "run"]
    async with ours.begin() as conn:
        await conn.execute(update(items).where(items.c.id == 5).values(name="five"))
    assert trips == ["run", "run", "rollback", "run", "run", "commit"]
    async with ours.connect() as conn:
        assert (await conn.execute(select(items.c.name).where(items.c.id == 5))).scalar() == "five"


async def test_rows_are_those_aiosqlite_gives(engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    async def every_row(conn: Any) -> list[Any]:
        return [tuple(r) for r in (await conn.execute(select(items).order_by(items.c.id))).all()]

    async def some(conn: Any) -> Any:
        result = await conn.execute(select(items).order_by(items.c.id))
        return result.fetchmany(3), result.fetchone(), len(result.fetchall())

    async def nothing(conn: Any) -> list[Any]:
        return list((await conn.execute(select(items).where(items.c.id < 0))).all())

    for work in (every_row, some, nothing):
        found, expected = await both(engines, work)
        assert found == expected
    assert len((await both(engines, every_row))[0]) == ROWS


async def test_a_streamed_result_is_read_on_in_chunks(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    async def streamed(conn: Any) -> list[int]:
        result = await conn.stream(select(items.c.id).execution_options(yield_per=100))
        return [len(part) async for part in result.partitions()]

    found, expected = await both(engines, streamed)
    assert found == expected and sum(found) == ROWS


async def test_writes_report_their_counts_and_ids(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    async def writes(conn: Any) -> tuple[Any, ...]:
        one = await conn.execute(insert(items).values(name="new"))
        many = await conn.execute(insert(items), [{"name": "x"}, {"name": "y"}])
        changed = await conn.execute(update(items).where(items.c.id <= 10).values(name=None))
        back = await conn.execute(insert(items).values(name="r").returning(items.c.id))
        return one.inserted_primary_key, many.rowcount, changed.rowcount, back.scalar()

    found, expected = await both(engines, writes)
    assert found == expected == ((ROWS + 1,), 2, 10, ROWS + 4)


async def test_errors_are_sqlalchemys_and_the_connection_goes_on(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    ours, _ = engines
    with pytest.raises(IntegrityError) as raised:
        async with ours.begin() as conn:
            await conn.execute(insert(items).values(name="n1"))
    assert not transient_db_error(raised.value)
    async with ours.begin() as conn:
        await conn.execute(insert(items).values(name="fresh"))
    async with ours.connect() as conn:
        assert (await conn.execute(select(items.c.id).where(items.c.name == "fresh"))).scalar()


async def test_a_cursor_left_open_mid_result_is_closed(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    ours, _ = engines
    async with ours.connect() as conn:
        result = await conn.stream(select(items.c.id).execution_options(yield_per=10))
        first = await result.fetchmany(10)
        await result.close()
        await conn.execute(update(items).where(items.c.id == first[0][0]).values(name="z"))
        await conn.commit()
    async with ours.connect() as conn:
        assert (await conn.execute(select(items.c.name).where(items.c.id == 1))).scalar() == "z"
