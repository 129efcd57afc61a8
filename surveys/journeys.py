"""Orders start journeys: registering an order, linking its customer, planning the waves."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
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
MAX_REF = 128
MAX_SEGMENT = 64
# A phone as people write it: +7 (999) 123-45-67, 8 999 123 45 67, +44 20 7946 0958.
PHONE = re.compile(r"\+?[\d(][\d\s().-]*\d")
MIN_PHONE_DIGITS, MAX_PHONE_DIGITS = 7, 15  # E.164 allows at most 15


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


@dataclass(frozen=True, slots=True)
class Relink:
    refused: str | None  # why no link was made
    token: str | None = None
    expires_at: datetime | None = None


class Journeys:
    def __init__(self, survey: Survey, rules: SendingRules, link_ttl: timedelta) -> None:
        self.survey = survey
        self.rules = rules
        self.link_ttl = link_ttl

    async def register_order(
        self, session: AsyncSession, new: NewOrder, now: datetime
    ) -> OrderReceipt:
        (receipt,) = await self.register_orders(session, [new], now)
        return receipt

    async def register_orders(
        self, session: AsyncSession, news: Sequence[NewOrder], now: datetime
    ) -> list[OrderReceipt]:
        """Orders registered as if one after another, but with a statement per step for
        all of them (the HTTP API's batches): a receipt per order, in order. An external id
        registered before, or earlier in `news`, gets that order's receipt, unchanged."""
        for new in news:
            validate_order(new, now)
        news = [replace(new, customer_ref=customer_ref(new.customer_ref)) for new in news]
        known = await orders.by_external_ids(session, {new.external_id for new in news})
        fresh: dict[str, NewOrder] = {}
        for new in news:
            if new.external_id not in known:
                fresh.setdefault(new.external_id, new)
        refs = {new.customer_ref for new in fresh.values()}
        people = await customers.get_or_create_many(session, refs, now) if refs else {}
        created = {
            key: self._new_order(new, people[new.customer_ref], now) for key, new in fresh.items()
        }
        session.add_all(created.values())
        await session.flush()
        links = {}
        for key, order in created.items():
            customer = people[fresh[key].customer_ref]
            if customer.status == CustomerStatus.ACTIVE:
                order.journey = await self.start(session, customer, order, now)
            elif customer.status in (CustomerStatus.STOPPED, CustomerStatus.UNREACHABLE):
                order.journey = Journey.NOT_SURVEYED
            else:
                links[order.id] = self._new_link(customer, order, now)
        session.add_all(links.values())
        await session.flush()
        return await self._receipts(session, news, known, created, links)

    async def _receipts(
        self,
        session: AsyncSession,
        news: Sequence[NewOrder],
        known: dict[str, Order],
        created: dict[str, Order],
        links: dict[int, LinkToken],
    ) -> list[OrderReceipt]:
        receipts = []
        first = dict(created)  # external id → its new order, until its first receipt
        for new in news:
            order = first.pop(new.external_id, None)
            if order is not None:
                receipts.append(await self._receipt(session, order, True, links.get(order.id)))
            else:
                order = known.get(new.external_id) or created[new.external_id]
                receipts.append(await self._receipt(session, order, created=False))
        return receipts

    def _new_order(self, new: NewOrder, customer: Customer, now: datetime) -> Order:
        return Order(
            external_id=new.external_id, customer_id=customer.id, survey_id=self.survey.id,
            segment=new.segment, source=new.source, journey=Journey.AWAITING_LINK,
            purchased_at=new.purchased_at or now, created_at=now,
        )  # fmt: skip

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

    async def relink(self, session: AsyncSession, ref: str, now: datetime) -> Relink:
        """A staff member's explicit move of a linked customer to another Telegram account
        (a new phone, a mistaken first link): a link that the next account to open it and
        agree takes over, pending waves and staff replies with it. No other link can."""
        customer = await customers.by_ref(session, ref.strip())
        if customer is None:
            return Relink(f"no customer with reference {ref!r}")
        order = await orders.latest_of(session, customer.id)
        if customer.tg_user_id is None or order is None:
            return Relink(
                f"{customer.ref} is not connected to Telegram: give them their order's link"
            )
        link = self._new_link(customer, order, now)
        link.relink = True
        session.add(link)
        await session.flush()
        return Relink(None, link.token, link.expires_at)

    def _new_link(self, customer: Customer, order: Order, now: datetime) -> LinkToken:
        return LinkToken(
            token=secrets.token_urlsafe(TOKEN_BYTES), customer_id=customer.id,
            order_id=order.id, created_at=now, expires_at=now + self.link_ttl,
        )  # fmt: skip

    async def _receipt(
        self, session: AsyncSession, order: Order, created: bool, link: LinkToken | None = None
    ) -> OrderReceipt:
        """`link`: the one a new order just got (a new order has no other to look up)."""
        customer = await customers.get(session, order.customer_id) if order.customer_id else None
        if not created:
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


def customer_ref(text: str) -> str:
    """The one rule for a customer's reference, wherever it comes from (`/order`, `cjm
    order add`, the API, an import): one word, except that a phone may be written with
    spaces, dashes, dots and brackets; a phone is kept as its digits (and a leading +),
    so "+7 999 123-45-67" and "+79991234567" are the same customer."""
    ref = text.strip()
    if not ref:
        raise OrderRejected("customer_ref: must not be empty")
    digits = re.sub(r"\D", "", ref)
    if PHONE.fullmatch(ref) and MIN_PHONE_DIGITS <= len(digits) <= MAX_PHONE_DIGITS:
        ref = ("+" if ref.startswith("+") else "") + digits
    if any(char.isspace() or not char.isprintable() for char in ref):
        raise OrderRejected(
            "customer_ref: one word, or a phone number (spaces and dashes are fine there)"
        )
    if len(ref) > MAX_REF:
        raise OrderRejected(f"customer_ref: at most {MAX_REF} characters")
    return ref


def validate_order(new: NewOrder, now: datetime) -> None:
    """Raise OrderRejected as `register_order` would, without touching the database."""
    customer_ref(new.customer_ref)
    if not new.external_id.strip() or len(new.external_id) > 128:
        raise OrderRejected("external_id: 1 to 128 characters")
    if new.segment is not None and len(new.segment) > MAX_SEGMENT:
        raise OrderRejected(f"segment: at most {MAX_SEGMENT} characters")
    if new.purchased_at is not None:
        if new.purchased_at.tzinfo is None:
            raise OrderRejected("purchased_at: needs a time zone")
        if new.purchased_at > now + MAX_CLOCK_SKEW:
            raise OrderRejected("purchased_at: is in the future")
