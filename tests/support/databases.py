"""Test databases made by the real Alembic migrations: SQLite always, PostgreSQL when
CJM_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import time
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import Base

POSTGRES_ENV = "CJM_TEST_POSTGRES_URL"
REDIS_ENV = "CJM_TEST_REDIS_URL"


async def sqlite_template(directory: Path) -> Path:
    path = directory / "template.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    await upgrade(engine)
    await engine.dispose()
    return path


def sqlite_copy(template: Path, directory: Path) -> str:
    path = directory / f"{uuid.uuid4().hex}.db"
    shutil.copy(template, path)
    return f"sqlite+aiosqlite:///{path}"


def postgres_base_url() -> str | None:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        return None
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


async def empty_postgres_database(base_url: str, prefix: str = "cjm_test") -> str:
    """A new, empty database on the server of `base_url`; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


async def postgres_database(base_url: str) -> str:
    """A fresh database for this test session, migrated to head."""
    url = await empty_postgres_database(base_url)
    engine = make_engine(url)
    await upgrade(engine)
    await engine.dispose()
    return url


async def drop_postgres_database(base_url: str, url: str) -> None:
    name = make_url(url).database
    admin = make_engine(base_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


async def truncate_all(url: str) -> None:
    engine = make_engine(url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await engine.dispose()


async def hold_write_lock(database_url: str, table: str, seconds: float) -> None:
    """Another writer holds `table` for `seconds`: reads go on, every write to it waits
    (SQLite's write lock, which covers the whole file; a table lock on PostgreSQL)."""
    if database_url.startswith("sqlite"):
        await asyncio.to_thread(_hold_sqlite, make_url(database_url).database or "", seconds)
        return
    engine = make_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"LOCK TABLE {table} IN EXCLUSIVE MODE"))
            await asyncio.sleep(seconds)
    finally:
        await engine.dispose()


def _hold_sqlite(path: str, seconds: float) -> None:
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("BEGIN IMMEDIATE")  # the write lock: every other writer waits
        time.sleep(seconds)
        db.execute("ROLLBACK")
