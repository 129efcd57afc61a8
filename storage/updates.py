"""The record of Telegram updates already handled (at-least-once delivery → once)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select, update
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


_MARK = (
    update(_TABLE)
    .where(_TABLE.c.update_id.in_(bindparam("b_ids", expanding=True)))
    .values(replied_at=bindparam("b_now"))
)
_REPLIED = select(_TABLE.c.replied_at).where(_TABLE.c.update_id == bindparam("b_id"))


async def mark_replied(session: AsyncSession, update_ids: Collection[int], now: datetime) -> None:
    if update_ids:
        connection = await session.connection()
        await connection.execute(_MARK, {"b_ids": list(update_ids), "b_now": now})


async def was_replied(session: AsyncSession, update_id: int) -> bool:
    connection = await session.connection()
    return (await connection.execute(_REPLIED, {"b_id": update_id})).scalar() is not None


async def forget_updates_before(session: AsyncSession, moment: datetime) -> int:
    statement = delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < moment)
    result: Any = await session.execute(statement)
    return int(result.rowcount)
