"""A customer opens their deep link and agrees (or not) to be interviewed (SPEC §4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from storage import customers, dispatches, orders
from storage.models import Customer, CustomerStatus, Journey, LinkToken
from surveys.journeys import Journeys


class LinkState(StrEnum):
    OK = "ok"  # ask for consent
    UNKNOWN = "unknown"  # no such token (mistyped, forged)
    EXPIRED = "expired"
    USED = "used"  # someone already answered this link
    ALREADY_LINKED = "already_linked"  # used by this very user: nothing to do
    TAKEN = "taken"  # opened first by another Telegram account: theirs to answer
    OTHER_ACCOUNT = "other_account"  # its customer is linked to another Telegram account
    ACCOUNT_IN_USE = "account_in_use"  # a staff re-link opened by another customer's account


class ConsentState(StrEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"
    REPEATED = "repeated"  # the same answer again (a double tap): nothing to do
    NOT_YOURS = "not_yours"  # the buttons belong to whoever opened the link
    CLOSED = "closed"  # expired or already answered
    OTHER_ACCOUNT = "other_account"  # the customer was linked to another account meanwhile


@dataclass(frozen=True, slots=True)
class LinkView:
    state: LinkState
    link_id: int | None = None


@dataclass(frozen=True, slots=True)
class ConsentResult:
    state: ConsentState
    journey: Journey | None = None
    locale: str | None = None
    first_wave_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TelegramUser:
    user_id: int
    chat_id: int
    locale: str | None  # a supported locale derived from Telegram's language_code


async def open_link(session: AsyncSession, token: str, user_id: int, now: datetime) -> LinkView:
    link = await orders.link_by_token(session, token) if len(token) <= 64 else None
    if link is None:
        return LinkView(LinkState.UNKNOWN)
    if link.expires_at <= now and link.used_at is None:
        return LinkView(LinkState.EXPIRED)
    if link.used_at is not None:
        if await _accepted_by(session, link, user_id):
            return LinkView(LinkState.ALREADY_LINKED)
        # Whoever said "No" may change their mind while the link is valid.
        if link.opened_by != user_id or link.expires_at <= now:
            return LinkView(LinkState.USED)
    if link.opened_by is not None and link.opened_by != user_id:
        return LinkView(LinkState.TAKEN)  # the first opener keeps it
    refused = await _refusal(session, link, user_id)
    if refused is not None:
        return LinkView(refused)
    link.opened_by = user_id
    return LinkView(LinkState.OK, link.id)


async def _refusal(session: AsyncSession, link: LinkToken, user_id: int) -> LinkState | None:
    """A link never moves a linked customer to another Telegram account, unless the staff
    made it for that (`relink`); even then not onto an account that is another customer."""
    customer = await customers.get(session, link.customer_id)
    if customer is None or customer.tg_user_id in (None, user_id):
        return None
    if not link.relink:
        return LinkState.OTHER_ACCOUNT
    mine = await customers.by_tg_user(session, user_id)
    return LinkState.ACCOUNT_IN_USE if mine is not None else None


async def answer_consent(
    session: AsyncSession,
    journeys: Journeys,
    link_id: int,
    user: TelegramUser,
    accept: bool,
    now: datetime,
) -> ConsentResult:
    link = await orders.link_by_id(session, link_id)
    if link is None or link.opened_by != user.user_id:
        return ConsentResult(ConsentState.NOT_YOURS)
    # A second tap: the same answer changes nothing; "Yes" after "No" is a change of mind,
    # honoured while the link is valid.
    if link.used_at is not None and (
        not accept or await _accepted_by(session, link, user.user_id)
    ):
        return ConsentResult(ConsentState.REPEATED)
    if link.expires_at <= now:
        return ConsentResult(ConsentState.CLOSED)
    if await _refusal(session, link, user.user_id) is not None:
        return ConsentResult(ConsentState.OTHER_ACCOUNT)  # linked elsewhere since it opened
    declined_before = link.used_at is not None
    link.used_at = now
    if not accept and link.relink:
        link.opened_by = None  # the customer stays where they were
        return ConsentResult(ConsentState.DECLINED)
    if not accept:
        return await _decline(session, link)
    customer = await _link_customer(session, link, user, now)
    order = await orders.get(session, link.order_id)
    assert order is not None
    order.customer_id = customer.id
    # A re-link's order may be under way; a "No" made this one's journey not surveyed.
    if order.journey == Journey.AWAITING_LINK or declined_before:
        order.journey = await journeys.start(session, customer, order, now)
    first = min(await dispatches.open_due_times(session, customer.id), default=None)
    return ConsentResult(ConsentState.ACCEPTED, order.journey, customer.locale, first)


async def _accepted_by(session: AsyncSession, link: LinkToken, user_id: int) -> bool:
    order = await orders.get(session, link.order_id)
    if order is None or order.customer_id is None:
        return False
    customer = await customers.get(session, order.customer_id)
    return customer is not None and customer.tg_user_id == user_id


async def _decline(session: AsyncSession, link: LinkToken) -> ConsentResult:
    """Nothing is kept beyond the decline itself: no Telegram id or language on the
    customer. The link remembers who opened it while it works, so that the same person
    can still say "Yes" (storage.orders.forget_link_openers clears it after)."""
    customer = await customers.get(session, link.customer_id)
    if customer is not None and customer.status == CustomerStatus.NEW:
        customer.status = CustomerStatus.DECLINED
    await orders.set_journey(session, link.order_id, Journey.NOT_SURVEYED)
    return ConsentResult(ConsentState.DECLINED)


async def _link_customer(
    session: AsyncSession, link: LinkToken, user: TelegramUser, now: datetime
) -> Customer:
    """The Telegram user becomes this link's customer; a user already known under another
    reference keeps their record, and the order moves to it. A staff re-link moves the
    customer, pending waves and all, from their old account to this one."""
    existing = await customers.by_tg_user(session, user.user_id)
    customer = existing or await customers.get(session, link.customer_id)
    assert customer is not None
    if customer.tg_user_id is not None and customer.tg_user_id != user.user_id:
        customer.tg_user_id = None  # a re-link (checked above): the old account lets go
        await session.flush()
    customer.tg_user_id = user.user_id
    customer.chat_id = user.chat_id
    customer.locale = customer.locale or user.locale
    if customer.status != CustomerStatus.ACTIVE:
        customer.status = CustomerStatus.ACTIVE
        customer.consented_at = now
    await session.flush()
    return customer
