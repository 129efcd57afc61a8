"""The customer's controls: /stop, /start again, /forget, /language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage import customers, dispatches
from storage.models import CustomerStatus


@dataclass(frozen=True, slots=True)
class Profile:
    known: bool
    status: CustomerStatus | None = None
    locale: str | None = None


async def profile(session: AsyncSession, user_id: int) -> Profile:
    customer = await customers.by_tg_user(session, user_id)
    if customer is None:
        return Profile(known=False)
    return Profile(True, CustomerStatus(customer.status), customer.locale)


async def stop(session: AsyncSession, user_id: int, now: datetime) -> int | None:
    """Opt out; returns how many waves were cancelled, or None for a stranger."""
    customer = await customers.by_tg_user(session, user_id)
    if customer is None:
        return None
    customer.status = CustomerStatus.STOPPED
    return await dispatches.cancel_open(session, customer.id, now, "customer opted out (/stop)")


async def resume(session: AsyncSession, user_id: int) -> bool:
    customer = await customers.by_tg_user(session, user_id)
    if customer is None or customer.status not in (
        CustomerStatus.STOPPED,
        CustomerStatus.UNREACHABLE,
    ):
        return False
    customer.status = CustomerStatus.ACTIVE
    return True


async def forget(session: AsyncSession, user_id: int, now: datetime) -> bool:
    """Delete the customer's personal data; their figures stay, anonymous."""
    customer = await customers.by_tg_user(session, user_id)
    if customer is None:
        return False
    await dispatches.cancel_open(session, customer.id, now, "customer data erased (/forget)")
    await customers.erase(session, customer.id)
    return True


async def set_locale(session: AsyncSession, user_id: int, locale: str) -> bool:
    customer = await customers.by_tg_user(session, user_id)
    if customer is None:
        return False
    customer.locale = locale
    return True
