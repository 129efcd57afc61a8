"""The poller lease: which process long-polls Telegram for a bot (one row per bot).

Taking and renewing are one conditional UPDATE (ours already, or expired), else an INSERT
that ignores a conflict: on SQLite (one writer) and PostgreSQL (the UPDATE re-checks its
WHERE on the row another transaction just wrote) two processes never both get it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, case, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import PollerLease
from storage.upsert import insert_ignoring_conflicts

_TABLE = cast(Table, PollerLease.__table__)


@dataclass(frozen=True, slots=True)
class Lease:
    bot_id: int
    holder: str
    acquired_at: datetime
    expires_at: datetime

    def held_by(self, holder: str, now: datetime) -> bool:
        return self.holder == holder and self.expires_at > now


async def take(
    session: AsyncSession, bot_id: int, holder: str, now: datetime, ttl: timedelta
) -> Lease:
    """Takes the lease when it is free or expired, renews it when it is `holder`'s;
    returns the lease as it stands: `holder`'s, or the other process's that has it."""
    connection = await session.connection()
    c = _TABLE.c
    renewed = await connection.execute(
        update(_TABLE)
        .where(c.bot_id == bot_id, or_(c.holder == holder, c.expires_at <= now))
        .values(
            holder=holder,
            expires_at=now + ttl,
            acquired_at=case((c.holder == holder, c.acquired_at), else_=now),
        )
        .returning(c.acquired_at)
    )
    acquired = renewed.scalar()
    if acquired is not None:
        return Lease(bot_id, holder, acquired, now + ttl)
    mine = Lease(bot_id, holder, now, now + ttl)
    inserted: Any = await connection.execute(
        insert_ignoring_conflicts(connection.dialect.name, _TABLE), asdict(mine)
    )
    if inserted.rowcount == 1:
        return mine
    current = (await connection.execute(select(_TABLE).where(c.bot_id == bot_id))).one()
    return Lease(current.bot_id, current.holder, current.acquired_at, current.expires_at)


async def release(session: AsyncSession, bot_id: int, holder: str) -> bool:
    """Gives the lease up, if `holder` still has it: a standby takes it at its next try."""
    result: Any = await session.execute(
        delete(_TABLE).where(_TABLE.c.bot_id == bot_id, _TABLE.c.holder == holder)
    )
    return bool(result.rowcount == 1)


async def leases(session: AsyncSession) -> list[Lease]:
    rows = await session.execute(select(_TABLE).order_by(_TABLE.c.bot_id))
    return [Lease(r.bot_id, r.holder, r.acquired_at, r.expires_at) for r in rows]
