"""Orders and the deep-link tokens that connect their customers to Telegram."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Customer, Journey, LinkToken, Order


async def known_external_ids(session: AsyncSession, external_ids: Collection[str]) -> set[str]:
    """Which of these external ids are registered already."""
    found = await session.scalars(
        select(Order.external_id).where(Order.external_id.in_(external_ids))
    )
    return set(found)


async def get(session: AsyncSession, order_id: int) -> Order | None:
    return await session.get(Order, order_id)


async def last_journey_start(session: AsyncSession, customer_id: int) -> datetime | None:
    """When the customer's latest journey began (for the survey's cooldown)."""
    return await session.scalar(
        select(func.max(Order.journey_started_at)).where(Order.customer_id == customer_id)
    )


async def set_journey(session: AsyncSession, order_id: int, journey: Journey) -> None:
    await session.execute(update(Order).where(Order.id == order_id).values(journey=journey))


async def link_for_order(session: AsyncSession, order_id: int) -> LinkToken | None:
    return await session.scalar(
        select(LinkToken).where(LinkToken.order_id == order_id).order_by(LinkToken.id.desc())
    )


async def link_by_token(session: AsyncSession, token: str) -> LinkToken | None:
    return await session.scalar(select(LinkToken).where(LinkToken.token == token))


async def link_by_id(session: AsyncSession, link_id: int) -> LinkToken | None:
    return await session.get(LinkToken, link_id)


async def by_external_ids(
    session: AsyncSession, external_ids: Collection[str]
) -> dict[str, Order]:
    found = await session.scalars(select(Order).where(Order.external_id.in_(external_ids)))
    return {order.external_id: order for order in found}


async def waiting_links(
    session: AsyncSession, external_ids: Collection[str], now: datetime
) -> dict[str, tuple[str, LinkToken]]:
    """external id → (customer ref, live link) of these orders still waiting for their
    customer to open the bot: an import rerun hands their links out again."""
    rows = await session.execute(
        select(Order.external_id, Customer.ref, LinkToken)
        .join(Customer, Customer.id == Order.customer_id)
        .join(LinkToken, LinkToken.order_id == Order.id)
        .where(
            Order.external_id.in_(external_ids),
            Order.journey == Journey.AWAITING_LINK,
            LinkToken.used_at.is_(None),
            LinkToken.expires_at > now,
        )
        .order_by(LinkToken.id)
    )
    return {external_id: (ref, link) for external_id, ref, link in rows}  # the newest wins


async def latest_of(session: AsyncSession, customer_id: int) -> Order | None:
    return await session.scalar(
        select(Order).where(Order.customer_id == customer_id).order_by(Order.id.desc()).limit(1)
    )


async def segments(session: AsyncSession, survey_id: str) -> list[str]:
    """The segments the survey's orders were registered with, sorted."""
    found = await session.scalars(
        select(Order.segment)
        .where(Order.survey_id == survey_id, Order.segment.is_not(None))
        .distinct()
        .order_by(Order.segment)
    )
    return [segment for segment in found if segment]


async def awaiting_links(session: AsyncSession, now: datetime) -> tuple[int, int]:
    """Orders whose customer has not opened the link yet: how many, and how many of them
    have no link left that could still be opened."""
    usable = (
        select(LinkToken.id)
        .where(
            LinkToken.order_id == Order.id, LinkToken.used_at.is_(None), LinkToken.expires_at > now
        )
        .exists()
    )
    waiting = Order.journey == Journey.AWAITING_LINK
    total = await session.scalar(select(func.count()).select_from(Order).where(waiting))
    expired = await session.scalar(select(func.count()).select_from(Order).where(waiting, ~usable))
    return int(total or 0), int(expired or 0)


async def first_registered(session: AsyncSession, survey_id: str) -> datetime | None:
    """When the survey's first order was registered."""
    return await session.scalar(
        select(func.min(Order.created_at)).where(Order.survey_id == survey_id)
    )


async def count_orders(session: AsyncSession, survey_id: str) -> int:
    found = await session.scalar(
        select(func.count()).select_from(Order).where(Order.survey_id == survey_id)
    )
    return int(found or 0)
