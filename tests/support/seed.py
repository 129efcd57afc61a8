"""Rows put straight into the database, for tests about what is done with them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time

from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import make_engine, make_session_factory
from storage.models import Answer, Dispatch, DispatchStatus, Journey, Order

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
