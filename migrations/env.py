"""Alembic environment: uses the connection `storage.migrate` hands in, or CJM_DATABASE_URL."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import Connection

from storage.db import make_engine
from storage.models import metadata_on

config = context.config


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        # Autogenerate compares with the tables as this dialect has them (storage.models).
        target_metadata=metadata_on(connection.dialect.name),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_standalone(url: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(run_with)
    await engine.dispose()


def main() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or os.environ.get(
        "CJM_DATABASE_URL", "sqlite+aiosqlite:///cjm.db"
    )
    asyncio.run(run_standalone(url))


main()
