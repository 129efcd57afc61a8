"""Answers, and the dispatch state the answer path reads and advances in one go."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Answer, Customer, Dispatch, DispatchStatus
from storage.upsert import insert_ignoring_conflicts


@dataclass(frozen=True, slots=True)
class OpenWave:
    """A dispatch as the answer path sees it, with its customer."""

    id: int
    order_id: int
    customer_id: int | None
    survey_id: str
    wave_id: str
    segment: str | None
    status: str
    current_question: str | None
    progress: dict[str, Any]
    opened_at: datetime | None
    message_id: int | None
    tg_user_id: int | None
    chat_id: int | None
    locale: str | None


_COLUMNS = (
    Dispatch.id,
    Dispatch.order_id,
    Dispatch.customer_id,
    Dispatch.survey_id,
    Dispatch.wave_id,
    Dispatch.segment,
    Dispatch.status,
    Dispatch.current_question,
    Dispatch.progress,
    Dispatch.opened_at,
    Dispatch.message_id,
    Customer.tg_user_id,
    Customer.chat_id,
    Customer.locale,
)


# The answer path runs per tap: its statements are built once, and run on the session's
# Core connection with bound parameters (no ORM unit of work, no per-call compilation).
_DISPATCHES = cast(Table, Dispatch.__table__)
_ANSWERS = cast(Table, Answer.__table__)
_OPEN_WAVE = (
    select(*_COLUMNS)
    .outerjoin(Customer, Customer.id == Dispatch.customer_id)
    .where(Dispatch.id == bindparam("b_dispatch"))
)
_ADVANCE = update(_DISPATCHES).where(_DISPATCHES.c.id == bindparam("b_id"))
# Every value column in every insert: one compiled statement serves every kind of answer.
_ANSWER_DEFAULTS: dict[str, Any] = dict.fromkeys(
    ("rating", "nps", "emotion", "valence", "choice", "comment")
) | {"skipped": False}


async def open_wave(session: AsyncSession, dispatch_id: int) -> OpenWave | None:
    connection = await session.connection()
    row = (await connection.execute(_OPEN_WAVE, {"b_dispatch": dispatch_id})).first()
    return OpenWave(*row) if row else None


async def open_wave_of(
    session: AsyncSession, tg_user_id: int, statuses: tuple[str, ...]
) -> OpenWave | None:
    """The wave a Telegram user is answering now: the newest one sent to them."""
    row = (
        await session.execute(
            select(*_COLUMNS)
            .join(Customer, Customer.id == Dispatch.customer_id)
            .where(Customer.tg_user_id == tg_user_id, Dispatch.status.in_(statuses))
            .order_by(Dispatch.sent_at.desc().nulls_first(), Dispatch.id.desc())
            .limit(1)
        )
    ).first()
    return OpenWave(*row) if row else None


async def insert(session: AsyncSession, values: dict[str, Any]) -> bool:
    """False when this question already has its answer in this dispatch.

    Sets `day` (answered_at's UTC date, what reports group by) unless given."""
    if "day" not in values:
        values = {**values, "day": values["answered_at"].astimezone(UTC).date()}
    connection = await session.connection()
    statement = insert_ignoring_conflicts(connection.dialect.name, _ANSWERS)
    result: Any = await connection.execute(statement, _ANSWER_DEFAULTS | values)
    return bool(result.rowcount == 1)


async def advance(
    session: AsyncSession,
    wave: OpenWave,
    progress: dict[str, Any],
    next_question: str | None,
    now: datetime,
    expires_at: datetime,
) -> None:
    done = next_question is None
    values: dict[str, Any] = {
        "progress": progress,
        "current_question": next_question,
        "status": DispatchStatus.ANSWERED if done else DispatchStatus.SENT,
    }
    if wave.opened_at is None:
        values["opened_at"] = now
    if done:
        values.update(closed_at=now, due_at=None)
    elif wave.status == DispatchStatus.UNKNOWN:
        # The send was recorded as unknown, but a tap proves it arrived: give it an expiry.
        values.update(closed_at=None, error=None, due_at=expires_at)
    connection = await session.connection()
    await connection.execute(_ADVANCE, {**values, "b_id": wave.id})


async def set_message(session: AsyncSession, dispatch_id: int, message_id: int) -> None:
    await session.execute(
        update(Dispatch).where(Dispatch.id == dispatch_id).values(message_id=message_id)
    )


async def any_answered(
    session: AsyncSession,
    survey_id: str,
    start: date | None = None,
    end: date | None = None,
    segment: str | None = None,
) -> bool:
    """Whether a customer (of the segment) answered, not skipped, a question on a UTC day
    in [start, end)."""
    conditions = [Answer.survey_id == survey_id, Answer.skipped.is_(False)]
    if segment is not None:
        conditions.append(Answer.segment == segment)
    if start is not None:
        conditions.append(Answer.day >= start)
    if end is not None:
        conditions.append(Answer.day < end)
    found = await session.scalar(select(Answer.id).where(*conditions).limit(1))
    return found is not None
