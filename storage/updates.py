"""The record of Telegram updates already handled (at-least-once delivery → once)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CursorResult, delete
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ProcessedUpdate
from storage.upsert import insert_ignoring_conflicts


async def claim_update(session: AsyncSession, update_id: int, now: datetime) -> bool:
    """True the first time an update id is seen in a committed transaction."""
    statement = insert_ignoring_conflicts(session, ProcessedUpdate).values(
        update_id=update_id, processed_at=now
    )
    result: CursorResult[tuple[()]] = await session.execute(statement)  # type: ignore[assignment]
    return result.rowcount == 1


async def forget_updates_before(session: AsyncSession, moment: datetime) -> int:
    statement = delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < moment)
    result: CursorResult[tuple[()]] = await session.execute(statement)  # type: ignore[assignment]
    return result.rowcount
