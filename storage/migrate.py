"""Apply Alembic migrations from inside the running event loop (`cjm run`, tests).

A database already at the head revision is the usual start of `cjm run`: that is checked
without importing Alembic (about 10 MiB the bot would keep for nothing). The head is read
from the text of migrations/versions; when it is not plain (several heads, a merge, a
file not understood), Alembic decides, as it always does when something is to migrate.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations
from storage.statistics import keep_statistics

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPT_LOCATION = Path(migrations.__file__).parent
_REVISION = re.compile(r"""^revision(?:\s*:\s*str)?\s*=\s*["']([\w.-]+)["']\s*$""", re.M)
_DOWN = re.compile(r"""^down_revision(?:\s*:[^=]+)?=\s*(?:None|["']([\w.-]+)["'])\s*$""", re.M)


def alembic_config(url: str | None = None) -> Config:
    from alembic.config import Config  # noqa: PLC0415  (see the module's docstring)

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def script_head() -> str | None:
    """The one head revision of migrations/versions, read from the files' text; None
    when that is not plain."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (SCRIPT_LOCATION / "versions").glob("*.py"):
        if path.name == "__init__.py":
            continue
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.findall(source), _DOWN.findall(source)
        if len(revision) != 1 or len(down) != 1:
            return None
        revisions.add(revision[0])
        if down[0]:
            parents.add(down[0])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None


def _at(connection: Connection) -> set[str]:
    if not inspect(connection).has_table("alembic_version"):
        return set()
    return set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    await _migrate(engine, revision)
    # Start-up, or a migration that built an index: SQLite plans by the statistics
    # (storage.statistics), which a database never analysed has none of.
    async with engine.begin() as connection:
        await keep_statistics(connection)


async def _migrate(engine: AsyncEngine, revision: str) -> None:
    if revision == "head" and (head := script_head()) is not None:
        async with engine.connect() as connection:
            if await connection.run_sync(_at) == {head}:
                return  # nothing to migrate
    async with engine.begin() as connection:
        await connection.run_sync(_run, "upgrade", revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_run, "downgrade", revision)


def _run(connection: Connection, action: str, revision: str) -> None:
    from alembic import command  # noqa: PLC0415

    config = alembic_config()
    config.attributes["connection"] = connection
    getattr(command, action)(config, revision)
