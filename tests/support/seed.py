"""Rows put straight into the database, for tests about what is done with them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import make_engine, make_session_factory
from storage.models import (
    Answer,
    Customer,
    CustomerStatus,
    Dispatch,
    DispatchStatus,
    Journey,
    Order,
)

REGISTERED = datetime(2026, 11, 1, tzinfo=UTC)


async def answered_on(database_url: str, days: Iterable[date], survey_id: str = "cafe") -> None:
    """One order per day, registered on 2026-11-01, whose customer rated a stage at noon
    (UTC) of that day."""
    engine = make_engine(database_url)
    try:
        async with make_session_factory(engine).begin() as session:
            for number, day in enumerate(days, start=1):
                await _answered(session, f"seed-{number}", day, survey_id)
    finally:
        await engine.dispose()


async def _answered(session: AsyncSession, external_id: str, day: date, survey_id: str) -> None:
    noon = datetime.combine(day, time(12), UTC)
    order = Order(
        external_id=external_id, survey_id=survey_id, source="api",
        journey=Journey.SCHEDULED, purchased_at=REGISTERED, created_at=REGISTERED,
    )  # fmt: skip
    session.add(order)
    await session.flush()
    dispatch = Dispatch(
        order_id=order.id, survey_id=survey_id, wave_id="after_purchase",
        status=DispatchStatus.ANSWERED, attempts=1, progress={}, sent_at=noon,
        created_at=REGISTERED,
    )  # fmt: skip
    session.add(dispatch)
    await session.flush()
    session.add(Answer(
        dispatch_id=dispatch.id, order_id=order.id, survey_id=survey_id,
        wave_id="after_purchase", question_id="visit", stage="purchase", kind="rating",
        rating=4, answered_at=noon, day=day,
    ))  # fmt: skip


@dataclass(frozen=True)
class LinkedWave:
    """A consenting customer linked to `chat_id`, their order and its first wave; all of
    it registered at `at`."""

    chat_id: int
    at: datetime
    status: DispatchStatus = DispatchStatus.PENDING
    due_at: datetime | None = None
    closed_at: datetime | None = None
    error: str | None = None


async def linked_waves(
    database_url: str, waves: Iterable[LinkedWave], source: str = "test"
) -> None:
    """One row of each per wave, in the order given (the ids follow it)."""
    engine = make_engine(database_url)
    try:
        async with make_session_factory(engine).begin() as session:
            for wave in waves:
                await _linked(session, wave, source)
    finally:
        await engine.dispose()


async def _linked(session: AsyncSession, wave: LinkedWave, source: str) -> None:
    at, chat_id = wave.at, wave.chat_id
    customer = Customer(
        ref=f"guest-{chat_id}", tg_user_id=chat_id, chat_id=chat_id, locale="en",
        status=CustomerStatus.ACTIVE, consented_at=at, created_at=at,
    )  # fmt: skip
    session.add(customer)
    await session.flush()
    order = Order(
        external_id=f"order-{chat_id}", customer_id=customer.id, survey_id="cafe",
        source=source, journey=Journey.SCHEDULED, purchased_at=at, journey_started_at=at,
        created_at=at,
    )  # fmt: skip
    session.add(order)
    await session.flush()
    session.add(Dispatch(
        order_id=order.id, customer_id=customer.id, survey_id="cafe", wave_id="after_purchase",
        status=wave.status, attempts=0, due_at=wave.due_at, progress={}, created_at=at,
        closed_at=wave.closed_at, error=wave.error,
    ))  # fmt: skip


def due_in_order(chats: Iterable[int], now: datetime, step: timedelta) -> list[LinkedWave]:
    """Waves due an hour ago, `step` apart, so that a drain takes them in this order."""
    first = now - timedelta(hours=1)
    return [LinkedWave(chat, now, due_at=first + n * step) for n, chat in enumerate(chats)]
