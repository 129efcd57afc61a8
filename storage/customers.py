"""Customers: found by the business's reference or by their Telegram user id."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Alert,
    AlertReply,
    Answer,
    CommentReading,
    Customer,
    CustomerStatus,
    ThemeDay,
)


async def by_ref(session: AsyncSession, ref: str) -> Customer | None:
    return await session.scalar(select(Customer).where(Customer.ref == ref))


async def by_tg_user(session: AsyncSession, tg_user_id: int) -> Customer | None:
    return await session.scalar(select(Customer).where(Customer.tg_user_id == tg_user_id))


async def chosen_locale(session: AsyncSession, tg_user_id: int) -> str | None:
    """The language this Telegram user chose or consented in, if they are a customer."""
    chosen: str | None = await session.scalar(
        select(Customer.locale).where(Customer.tg_user_id == tg_user_id)
    )
    return chosen


async def get(session: AsyncSession, customer_id: int) -> Customer | None:
    return await session.get(Customer, customer_id)


async def erase(session: AsyncSession, customer_id: int) -> None:
    """Delete the person; their answers stay as anonymous figures, without their words."""
    # Their comments leave the theme counts: the days holding them are read live until
    # the rollup job rebuilds them; what was read from their words goes too.
    theirs = (Answer.customer_id == customer_id, Answer.comment.is_not(None))
    await session.execute(
        update(ThemeDay)
        .where(
            exists().where(
                *theirs, Answer.survey_id == ThemeDay.survey_id, Answer.day == ThemeDay.day
            )
        )
        .values(built_at=None)
    )
    await session.execute(
        delete(CommentReading).where(
            CommentReading.answer_id.in_(select(Answer.id).where(*theirs))
        )
    )
    await session.execute(
        update(Answer).where(Answer.customer_id == customer_id).values(comment=None)
    )
    # What they and the staff wrote to each other about their alerts goes too.
    their_alerts = select(Alert.id).where(Alert.customer_id == customer_id)
    await session.execute(
        update(AlertReply).where(AlertReply.alert_id.in_(their_alerts)).values(text=None)
    )
    await session.execute(delete(Customer).where(Customer.id == customer_id))


async def get_or_create_many(
    session: AsyncSession, refs: Collection[str], now: datetime
) -> dict[str, Customer]:
    """ref → customer for each ref, the missing ones created: two statements for any number."""
    found = await session.scalars(select(Customer).where(Customer.ref.in_(refs)))
    by_ref = {customer.ref: customer for customer in found}
    missing = [
        Customer(ref=ref, status=CustomerStatus.NEW, created_at=now)
        for ref in refs
        if ref not in by_ref
    ]
    if missing:
        session.add_all(missing)
        await session.flush()
        by_ref.update((customer.ref, customer) for customer in missing)
    return by_ref
