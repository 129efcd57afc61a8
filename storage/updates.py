"""The record of Telegram updates already handled (at-least-once delivery → once)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ProcessedUpdate
from storage.upsert import insert_ignoring_conflicts

_TABLE = cast(Table, ProcessedUpdate.__table__)


async def claim_update(session: AsyncSession, update_id: int, now: datetime) -> bool:
    """True the first time an update id is seen in a committed transaction."""
    connection = await session.connection()
    statement = insert_ignoring_conflicts(connection.dialect.name, _TABLE)
    result: Any = await connection.execute(
        statement, {"update_id": update_id, "processed_at": now}
    )
    return bool(result.rowcount == 1)


async def forget_updates_before(session: AsyncSession, moment: datetime) -> int:
    statement = delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < moment)
    result: Any = await session.execute(statement)
    return int(result.rowcount)
