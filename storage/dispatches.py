"""The dispatch outbox: waves due for orders, claimed and settled by the dispatcher.

Lean Core statements on purpose: the drain and the answer path are the hot loops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Customer, CustomerStatus, Dispatch, DispatchStatus

OPEN = (DispatchStatus.PENDING, DispatchStatus.SENDING, DispatchStatus.SENT)
# A customer can answer a wave whose send result is not recorded yet, or is unknown:
# the tap proves it arrived.
ANSWERABLE = (DispatchStatus.SENDING, DispatchStatus.SENT, DispatchStatus.UNKNOWN)


@dataclass(frozen=True, slots=True)
class Target:
    """A claimed dispatch with what sending it needs to know about its customer."""

    id: int
    customer_id: int | None
    survey_id: str
    wave_id: str
    attempts: int
    due_at: datetime | None
    chat_id: int | None
    locale: str | None
    customer_status: str | None
    last_wave_at: datetime | None


@dataclass(frozen=True, slots=True)
class FollowUp:
    id: int
    customer_id: int | None
    survey_id: str
    wave_id: str
    sent_at: datetime | None
    reminded_at: datetime | None
    current_question: str | None
    chat_id: int | None
    locale: str | None


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


async def add(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(Dispatch), list(rows))


async def open_due_times(session: AsyncSession, customer_id: int) -> list[datetime]:
    result = await session.scalars(
        select(Dispatch.due_at).where(
            Dispatch.customer_id == customer_id,
            Dispatch.status == DispatchStatus.PENDING,
        )
    )
    return [due for due in result if due is not None]


async def cancel_open(session: AsyncSession, customer_id: int, now: datetime, why: str) -> int:
    result = await session.execute(
        update(Dispatch)
        .where(Dispatch.customer_id == customer_id, Dispatch.status.in_(OPEN))
        .values(status=DispatchStatus.CANCELLED, closed_at=now, due_at=None, error=why)
    )
    return _rowcount(result)


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> list[Target]:
    """Mark up to `limit` due waves as being sent by this process and return them."""
    due = (
        select(Dispatch.id)
        .where(Dispatch.status == DispatchStatus.PENDING, Dispatch.due_at <= now)
        .order_by(Dispatch.due_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claimed = await session.scalars(
        update(Dispatch)
        .where(Dispatch.id.in_(due.scalar_subquery()))
        .values(status=DispatchStatus.SENDING, claimed_at=now)
        .returning(Dispatch.id)
    )
    ids = list(claimed)
    if not ids:
        return []
    rows = await session.execute(
        select(
            Dispatch.id,
            Dispatch.customer_id,
            Dispatch.survey_id,
            Dispatch.wave_id,
            Dispatch.attempts,
            Dispatch.due_at,
            Customer.chat_id,
            Customer.locale,
            Customer.status.label("customer_status"),
            Customer.last_wave_at,
        )
        .outerjoin(Customer, Customer.id == Dispatch.customer_id)
        .where(Dispatch.id.in_(ids))
        .order_by(Dispatch.due_at)
    )
    return [Target(**row._asdict()) for row in rows]


async def mark_sent(session: AsyncSession, rows: Sequence[dict[str, Any]], now: datetime) -> int:
    """rows: b_id, b_customer, b_now, b_message, b_question, b_due (remind or expire).

    Returns how many half-answered older waves the new ones superseded (now expired).
    """
    if not rows:
        return 0
    connection = await session.connection()
    await connection.execute(
        update(Dispatch)
        .where(Dispatch.id == bindparam("b_id"))
        .values(
            status=func.coalesce(
                func.nullif(Dispatch.status, DispatchStatus.SENDING.value),
                DispatchStatus.SENT.value,
            ),
            sent_at=bindparam("b_now"),
            message_id=func.coalesce(Dispatch.message_id, bindparam("b_message")),
            current_question=func.coalesce(Dispatch.current_question, bindparam("b_question")),
            due_at=bindparam("b_due"),
            attempts=Dispatch.attempts + 1,
            claimed_at=None,
        ),
        list(rows),
    )
    # A newer wave supersedes one the customer left half-answered. One statement, not
    # executemany: its row count is reliable on every driver.
    superseded = await connection.execute(
        update(Dispatch)
        .where(
            Dispatch.customer_id.in_({row["b_customer"] for row in rows}),
            Dispatch.status == DispatchStatus.SENT,
            Dispatch.sent_at < now,
        )
        .values(status=DispatchStatus.EXPIRED, closed_at=now, due_at=None)
    )
    await connection.execute(
        update(Customer)
        .where(Customer.id == bindparam("b_customer"))
        .values(last_wave_at=bindparam("b_now")),
        list(rows),
    )
    return _rowcount(superseded)


async def requeue(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """rows: b_id, b_due, b_attempts, b_error — back to pending (deferred, retried, 429)."""
    if rows:
        await (await session.connection()).execute(
            update(Dispatch)
            .where(Dispatch.id == bindparam("b_id"), Dispatch.status == DispatchStatus.SENDING)
            .values(
                status=DispatchStatus.PENDING,
                due_at=bindparam("b_due"),
                attempts=bindparam("b_attempts"),
                claimed_at=None,
                error=bindparam("b_error"),
            ),
            list(rows),
        )


async def close(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """rows: b_id, b_status, b_error, b_now — a final state: failed, unknown, cancelled."""
    if rows:
        await (await session.connection()).execute(
            update(Dispatch)
            .where(Dispatch.id == bindparam("b_id"), Dispatch.status == DispatchStatus.SENDING)
            .values(
                status=bindparam("b_status"),
                error=bindparam("b_error"),
                closed_at=bindparam("b_now"),
                due_at=None,
                claimed_at=None,
            ),
            list(rows),
        )


async def mark_unreachable(session: AsyncSession, customer_id: int, now: datetime) -> None:
    await session.execute(
        update(Customer)
        .where(Customer.id == customer_id)
        .values(status=CustomerStatus.UNREACHABLE)
    )
    await cancel_open(session, customer_id, now, "customer unreachable (blocked the bot)")


async def ask_again_at(
    session: AsyncSession, dispatch_id: int, question_id: str, due_at: datetime
) -> bool:
    """The question a sent wave waits on never reached the customer (a reply that could
    not be sent): the outbox's follow-up sends it again at `due_at`, as a reminder, even
    if the wave had its reminder already (that one may not have arrived either). Nothing
    changes once the wave has moved on from that question."""
    result = await session.execute(
        update(Dispatch)
        .where(
            Dispatch.id == dispatch_id,
            Dispatch.status == DispatchStatus.SENT,
            Dispatch.current_question == question_id,
        )
        .values(due_at=due_at, reminded_at=None)
    )
    return _rowcount(result) == 1


async def expire_stale_claims(session: AsyncSession, now: datetime, lease: timedelta) -> int:
    """Claims older than the lease belong to a process that died mid-send: the request
    may have reached Telegram, so the wave becomes *unknown* and is never resent."""
    result = await session.execute(
        update(Dispatch)
        .where(Dispatch.status == DispatchStatus.SENDING, Dispatch.claimed_at < now - lease)
        .values(
            status=DispatchStatus.UNKNOWN,
            closed_at=now,
            due_at=None,
            error="process stopped while sending; may or may not have been delivered",
        )
    )
    return _rowcount(result)


async def due_follow_ups(session: AsyncSession, now: datetime, limit: int) -> list[FollowUp]:
    rows = await session.execute(
        select(
            Dispatch.id,
            Dispatch.customer_id,
            Dispatch.survey_id,
            Dispatch.wave_id,
            Dispatch.sent_at,
            Dispatch.reminded_at,
            Dispatch.current_question,
            Customer.chat_id,
            Customer.locale,
        )
        .outerjoin(Customer, Customer.id == Dispatch.customer_id)
        .where(Dispatch.status == DispatchStatus.SENT, Dispatch.due_at <= now)
        .order_by(Dispatch.due_at)
        .limit(limit)
    )
    return [FollowUp(*row) for row in rows]


async def schedule_follow_up(
    session: AsyncSession, dispatch_id: int, due_at: datetime, reminded_at: datetime | None
) -> bool:
    values: dict[str, Any] = {"due_at": due_at}
    if reminded_at is not None:
        values["reminded_at"] = reminded_at
    result = await session.execute(
        update(Dispatch)
        .where(Dispatch.id == dispatch_id, Dispatch.status == DispatchStatus.SENT)
        .values(**values)
    )
    return _rowcount(result) == 1


async def expire(session: AsyncSession, dispatch_id: int, now: datetime) -> None:
    await session.execute(
        update(Dispatch)
        .where(Dispatch.id == dispatch_id, Dispatch.status == DispatchStatus.SENT)
        .values(status=DispatchStatus.EXPIRED, closed_at=now, due_at=None)
    )


async def counts_by_status(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Dispatch.status, func.count()).group_by(Dispatch.status))
    return {str(status): int(count) for status, count in rows}


async def oldest_due(session: AsyncSession, now: datetime) -> datetime | None:
    """When the longest-waiting due wave was due: one step down ix_dispatches_pending_due."""
    return await session.scalar(
        select(func.min(Dispatch.due_at)).where(
            Dispatch.status == DispatchStatus.PENDING, Dispatch.due_at <= now
        )
    )


async def next_due(session: AsyncSession) -> datetime | None:
    """When the next planned wave is due (one step down ix_dispatches_pending_due)."""
    return await session.scalar(
        select(func.min(Dispatch.due_at)).where(Dispatch.status == DispatchStatus.PENDING)
    )
