"""Customers: found by the business's reference or by their Telegram user id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Answer, Customer, CustomerStatus


async def by_ref(session: AsyncSession, ref: str) -> Customer | None:
    return await session.scalar(select(Customer).where(Customer.ref == ref))


async def by_tg_user(session: AsyncSession, tg_user_id: int) -> Customer | None:
    return await session.scalar(select(Customer).where(Customer.tg_user_id == tg_user_id))


async def get(session: AsyncSession, customer_id: int) -> Customer | None:
    return await session.get(Customer, customer_id)


async def get_or_create(session: AsyncSession, ref: str, now: datetime) -> Customer:
    customer = await by_ref(session, ref)
    if customer is None:
        customer = Customer(ref=ref, status=CustomerStatus.NEW, created_at=now)
        session.add(customer)
        await session.flush()
    return customer


async def erase(session: AsyncSession, customer_id: int) -> None:
    """Delete the person; their answers stay as anonymous figures, without their words."""
    await session.execute(
        update(Answer).where(Answer.customer_id == customer_id).values(comment=None)
    )
    await session.execute(delete(Customer).where(Customer.id == customer_id))
