"""The weekly report's deliveries: one row per owner and week, claimed before sending.

A claim is either the insert of the row (the first process to get there) or a
conditional update of a row whose claim went stale or whose retry is due; both are
single statements, so two processes never hold the same claim. Every later change is
fenced by the claim's `claimed_at`: a process whose lease ran out cannot settle a row
another process has retaken since.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ReportDelivery
from storage.upsert import insert_ignoring_conflicts

_TABLE = cast(Table, ReportDelivery.__table__)
ERROR_LENGTH = 500


class DeliveryStatus(StrEnum):
    SENDING = "sending"  # claimed; the report may be going out now
    RETRY = "retry"  # Telegram was unavailable; again at retry_at
    SENT = "sent"
    FAILED = "failed"  # for good: blocked by the owner, refused, given up, superseded
    EMPTY = "empty"  # nothing to report that week: nothing was sent (error says why)
    NOTED = "noted"  # no answers yet: the short how-to-get-them note went out instead


SETTLED = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.EMPTY, DeliveryStatus.NOTED)


@dataclass(frozen=True, slots=True)
class Claim:
    owner_id: int
    week: date
    claimed_at: datetime
    attempts: int
    parts: int  # already delivered by earlier attempts


async def deliveries_of(session: AsyncSession, week: date) -> dict[int, ReportDelivery]:
    rows = await session.scalars(select(ReportDelivery).where(ReportDelivery.week == week))
    return {row.owner_id: row for row in rows}


async def claim_new(
    session: AsyncSession, owner_id: int, week: date, now: datetime, locale: str
) -> Claim | None:
    """The first claim of (owner, week): None when the row exists already."""
    connection = await session.connection()
    statement = insert_ignoring_conflicts(connection.dialect.name, _TABLE)
    values = {
        "owner_id": owner_id, "week": week, "status": DeliveryStatus.SENDING.value,
        "attempts": 1, "claimed_at": now, "sent_at": None, "error": None, "parts": 0,
        "retry_at": None, "locale": locale,
    }  # fmt: skip
    result: Any = await connection.execute(statement, values)
    return Claim(owner_id, week, now, 1, 0) if result.rowcount == 1 else None


async def claim_again(
    session: AsyncSession, row: ReportDelivery, now: datetime, stale_before: datetime
) -> Claim | None:
    """Retake a claim a crashed process left (older than `stale_before`) or a due retry."""
    due = or_(
        and_(
            ReportDelivery.status == DeliveryStatus.SENDING,
            ReportDelivery.claimed_at <= stale_before,
        ),
        and_(ReportDelivery.status == DeliveryStatus.RETRY, ReportDelivery.retry_at <= now),
    )
    statement = (
        update(ReportDelivery)
        .where(_key(row.owner_id, row.week), ReportDelivery.claimed_at == row.claimed_at, due)
        .values(
            status=DeliveryStatus.SENDING, attempts=ReportDelivery.attempts + 1,
            claimed_at=now, retry_at=None,
        )
    )  # fmt: skip
    result: Any = await session.execute(statement)
    if result.rowcount != 1:
        return None
    return Claim(row.owner_id, row.week, now, row.attempts + 1, row.parts)


async def record_part(session: AsyncSession, claim: Claim, parts: int) -> None:
    await _settle(session, claim, parts=parts)


async def record_sent(session: AsyncSession, claim: Claim, now: datetime, locale: str) -> None:
    await _settle(
        session, claim, status=DeliveryStatus.SENT, sent_at=now, error=None, locale=locale
    )


async def record_noted(session: AsyncSession, claim: Claim, now: datetime, locale: str) -> None:
    await _settle(
        session, claim, status=DeliveryStatus.NOTED, sent_at=now, error=None, locale=locale
    )


async def record_empty(session: AsyncSession, claim: Claim, reason: str) -> None:
    await _settle(session, claim, status=DeliveryStatus.EMPTY, error=reason[:ERROR_LENGTH])


async def noted_owners(session: AsyncSession, owner_ids: Iterable[int]) -> set[int]:
    """The owners who have had the "no answers yet" note: it goes to each one once."""
    found = await session.scalars(
        select(ReportDelivery.owner_id).where(
            ReportDelivery.owner_id.in_(list(owner_ids)),
            ReportDelivery.status == DeliveryStatus.NOTED,
        )
    )
    return set(found)


async def record_retry(
    session: AsyncSession, claim: Claim, retry_at: datetime, error: str
) -> None:
    await _settle(
        session, claim, status=DeliveryStatus.RETRY, retry_at=retry_at,
        error=error[:ERROR_LENGTH],
    )  # fmt: skip


async def record_failed(session: AsyncSession, claim: Claim, error: str) -> None:
    await _settle(session, claim, status=DeliveryStatus.FAILED, error=error[:ERROR_LENGTH])


async def supersede(session: AsyncSession, week: date, stale_before: datetime, reason: str) -> int:
    """Unfinished deliveries of weeks before `week` are given up: only the latest week is
    ever sent. A claim still within its lease is left to the process holding it."""
    unfinished = or_(
        ReportDelivery.status == DeliveryStatus.RETRY,
        and_(
            ReportDelivery.status == DeliveryStatus.SENDING,
            ReportDelivery.claimed_at <= stale_before,
        ),
    )
    statement = (
        update(ReportDelivery)
        .where(ReportDelivery.week < week, unfinished)
        .values(status=DeliveryStatus.FAILED, retry_at=None, error=reason[:ERROR_LENGTH])
    )
    result: Any = await session.execute(statement)
    return int(result.rowcount)


async def last_locales(session: AsyncSession, owner_ids: Iterable[int]) -> dict[int, str]:
    """Each owner's language of their latest delivery that recorded one."""
    latest = (
        select(ReportDelivery.owner_id, func.max(ReportDelivery.week).label("week"))
        .where(ReportDelivery.owner_id.in_(list(owner_ids)), ReportDelivery.locale.is_not(None))
        .group_by(ReportDelivery.owner_id)
        .subquery()
    )
    statement = select(ReportDelivery.owner_id, ReportDelivery.locale).join(
        latest,
        and_(ReportDelivery.owner_id == latest.c.owner_id, ReportDelivery.week == latest.c.week),
    )
    return {owner: str(locale) for owner, locale in (await session.execute(statement)).all()}


async def latest_deliveries(session: AsyncSession) -> list[ReportDelivery]:
    """Each owner's most recent week, for `cjm status`."""
    latest = (
        select(ReportDelivery.owner_id, func.max(ReportDelivery.week).label("week"))
        .group_by(ReportDelivery.owner_id)
        .subquery()
    )
    statement = (
        select(ReportDelivery)
        .join(
            latest,
            and_(
                ReportDelivery.owner_id == latest.c.owner_id,
                ReportDelivery.week == latest.c.week,
            ),
        )
        .order_by(ReportDelivery.owner_id)
    )
    return list(await session.scalars(statement))


async def _settle(session: AsyncSession, claim: Claim, **values: Any) -> None:
    statement = (
        update(ReportDelivery)
        .where(
            _key(claim.owner_id, claim.week),
            ReportDelivery.status == DeliveryStatus.SENDING,
            ReportDelivery.claimed_at == claim.claimed_at,
        )
        .values(**values)
    )
    await session.execute(statement)


def _key(owner_id: int, week: date) -> Any:
    return and_(ReportDelivery.owner_id == owner_id, ReportDelivery.week == week)
