"""Orders start journeys: registering an order, linking its customer, planning the waves."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from storage import customers, dispatches, orders
from storage.models import Customer, CustomerStatus, DispatchStatus, Journey, LinkToken, Order
from surveys.model import Survey
from surveys.planner import in_cooldown, plan_journey
from surveys.timing import SendingRules

# Telegram's deep-link payload: at most 64 characters of A-Za-z0-9_- ; 32 here.
TOKEN_BYTES = 24
MAX_CLOCK_SKEW = timedelta(days=1)


class OrderRejected(ValueError):
    """The order cannot be registered as given; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class NewOrder:
    customer_ref: str
    external_id: str
    purchased_at: datetime | None = None
    segment: str | None = None
    source: str = "bot"


@dataclass(frozen=True, slots=True)
class OrderReceipt:
    order_id: int
    external_id: str
    customer_ref: str
    created: bool  # False: this external id was registered before; nothing changed
    journey: Journey
    link_token: str | None = None
    link_expires_at: datetime | None = None
    first_wave_at: datetime | None = None
    cooldown_until: datetime | None = None


class Journeys:
    def __init__(self, survey: Survey, rules: SendingRules, link_ttl: timedelta) -> None:
        self.survey = survey
        self.rules = rules
        self.link_ttl = link_ttl

    async def register_order(
        self, session: AsyncSession, new: NewOrder, now: datetime
    ) -> OrderReceipt:
        _validate(new, now)
        known = await orders.by_external_id(session, new.external_id)
        if known is not None:
            return await self._receipt(session, known, created=False)
        customer = await customers.get_or_create(session, new.customer_ref.strip(), now)
        order = Order(
            external_id=new.external_id, customer_id=customer.id, survey_id=self.survey.id,
            segment=new.segment, source=new.source, journey=Journey.AWAITING_LINK,
            purchased_at=new.purchased_at or now, created_at=now,
        )  # fmt: skip
        session.add(order)
        await session.flush()
        if customer.status == CustomerStatus.ACTIVE:
            order.journey = await self.start(session, customer, order, now)
        elif customer.status in (CustomerStatus.STOPPED, CustomerStatus.UNREACHABLE):
            order.journey = Journey.NOT_SURVEYED
        else:
            session.add(self._new_link(customer, order, now))
        await session.flush()
        return await self._receipt(session, order, created=True)

    async def start(
        self, session: AsyncSession, customer: Customer, order: Order, now: datetime
    ) -> Journey:
        """Plan the waves of `order` for a linked, consenting customer."""
        last = await orders.last_journey_start(session, customer.id)
        if in_cooldown(self.survey, last, now):
            return Journey.COOLDOWN
        busy = await dispatches.open_due_times(session, customer.id)
        if customer.last_wave_at is not None:
            busy.append(customer.last_wave_at)
        days = {self.rules.local_day(moment) for moment in busy}
        plan = plan_journey(self.survey, order.purchased_at, now, self.rules, days)
        await dispatches.add(session, [
            {"order_id": order.id, "customer_id": customer.id, "survey_id": self.survey.id,
             "wave_id": p.wave_id, "segment": order.segment,
             "status": DispatchStatus.PENDING if p.due_at else DispatchStatus.SKIPPED,
             "due_at": p.due_at, "attempts": 0, "progress": {}, "created_at": now,
             "error": None if p.due_at else "too late to ask when the order arrived"}
            for p in plan
        ])  # fmt: skip
        order.journey_started_at = now
        return Journey.SCHEDULED

    def _new_link(self, customer: Customer, order: Order, now: datetime) -> LinkToken:
        return LinkToken(
            token=secrets.token_urlsafe(TOKEN_BYTES), customer_id=customer.id,
            order_id=order.id, created_at=now, expires_at=now + self.link_ttl,
        )  # fmt: skip

    async def _receipt(self, session: AsyncSession, order: Order, created: bool) -> OrderReceipt:
        customer = await customers.get(session, order.customer_id) if order.customer_id else None
        link = await orders.link_for_order(session, order.id)
        first = None
        cooldown_until = None
        if order.journey == Journey.SCHEDULED:
            times = await dispatches.open_due_times(session, order.customer_id or 0)
            first = min(times, default=None)
        elif order.journey == Journey.COOLDOWN and order.customer_id is not None:
            last = await orders.last_journey_start(session, order.customer_id)
            cooldown_until = last + self.survey.cooldown if last else None
        return OrderReceipt(
            order_id=order.id, external_id=order.external_id,
            customer_ref=customer.ref if customer else "", created=created,
            journey=order.journey,
            link_token=link.token if link and link.used_at is None else None,
            link_expires_at=link.expires_at if link and link.used_at is None else None,
            first_wave_at=first, cooldown_until=cooldown_until,
        )  # fmt: skip


def _validate(new: NewOrder, now: datetime) -> None:
    if not new.customer_ref.strip():
        raise OrderRejected("customer_ref: must not be empty")
    if len(new.customer_ref) > 128:
        raise OrderRejected("customer_ref: at most 128 characters")
    if not new.external_id.strip() or len(new.external_id) > 128:
        raise OrderRejected("external_id: 1 to 128 characters")
    if new.segment is not None and len(new.segment) > 64:
        raise OrderRejected("segment: at most 64 characters")
    if new.purchased_at is not None:
        if new.purchased_at.tzinfo is None:
            raise OrderRejected("purchased_at: needs a time zone")
        if new.purchased_at > now + MAX_CLOCK_SKEW:
            raise OrderRejected("purchased_at: is in the future")
