"""Stored readings of comments (`comment_readings`): written by whoever reads a comment
first, replaced when the survey's themes change."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CommentReading
from storage.statistics import analyse_new_table

log = logging.getLogger(__name__)

_TABLE: Table = CommentReading.__table__  # type: ignore[assignment]
_UPDATED = ("version", "themes", "denied", "said", "says_nothing", "terms")


async def keep_readings(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> bool:
    """Store (or replace) readings and commit them; False when the database would not
    take them now (a busy SQLite file, a read-only replica): they are read again next
    time, nothing is lost. Commits the session's transaction: call it between reads."""
    if not rows:
        return True
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = module.insert(_TABLE)
    statement = statement.on_conflict_do_update(
        index_elements=[_TABLE.c.answer_id],
        set_={name: statement.excluded[name] for name in _UPDATED},
    )
    try:
        await session.execute(statement, list(rows))
        await session.commit()
    except DBAPIError as error:
        await session.rollback()
        log.warning("comment readings not stored (%s): read again next time", error.orig)
        return False
    try:
        # A first report fills the table from empty in one go: the planner must know.
        await analyse_new_table(session, _TABLE.name)
    except DBAPIError as error:
        await session.rollback()
        log.warning("comment readings not analysed (%s)", error.orig)
    return True
