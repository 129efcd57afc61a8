"""Staff: register an order and hand the customer a link or QR code."""

from __future__ import annotations

import re
from datetime import datetime

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.middlewares import Replies
from bot.qr import qr_png
from bot.roles import HasRole, Role
from bot.services import Services
from bot.texts import t
from storage.models import Journey
from surveys.journeys import (
    MAX_SEGMENT,
    MIN_PHONE_DIGITS,
    NewOrder,
    OrderReceipt,
    OrderRejected,
)

PHONE_WORD = re.compile(r"\+?[\d().-]+")
PHONE_DIGITS = 10  # a phone's words are joined until it has this many digits


async def on_order(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    services: Services,
    replies: Replies,
    now: datetime,
    locale: str,
) -> None:
    parsed = order_args(command.args or "")
    if parsed is None:
        replies.add(message.answer(t(locale, "order_usage")))
        return
    ref, segment = parsed
    # The message identifies the order: a replayed or re-sent update registers it once.
    new = NewOrder(
        customer_ref=ref, external_id=f"tg:{message.chat.id}:{message.message_id}",
        segment=segment, source="bot",
    )  # fmt: skip
    try:
        receipt = await services.journeys.register_order(session, new, now)
    except OrderRejected as error:
        replies.add(message.answer(_refusal(str(error), ref, locale)))
        return
    _present(receipt, message, services, replies, locale)


def order_args(text: str) -> tuple[str, str | None] | None:
    """`<ref> [segment]`, where the ref may be a phone typed with spaces: "+7 999 123-45-67
    downtown". Words that look like parts of a phone are taken as one until it has ten
    digits (so "89991234567 5" is a phone and segment 5); fewer than seven digits in all
    is not a phone ("4711 12": ref 4711, segment 12)."""
    words = text.split()
    taken = digits = 0
    while taken < len(words) and digits < PHONE_DIGITS and PHONE_WORD.fullmatch(words[taken]):
        digits += sum(char.isdigit() for char in words[taken])
        taken += 1
    if taken > 1 and digits >= MIN_PHONE_DIGITS and len(words) - taken <= 1:
        return " ".join(words[:taken]), words[taken] if taken < len(words) else None
    if not words or len(words) > 2:
        return None
    return words[0], words[1] if len(words) > 1 else None


def _refusal(reason: str, ref: str, locale: str) -> str:
    """The service's reason, in the staff member's language for what /order can get wrong."""
    if reason.startswith("customer_ref:"):
        return t(locale, "order_bad_ref", ref=ref)
    if reason.startswith("segment:"):
        return t(locale, "order_bad_segment", limit=MAX_SEGMENT)
    return t(locale, "order_rejected", reason=reason)


def _present(
    receipt: OrderReceipt, message: Message, services: Services, replies: Replies, locale: str
) -> None:
    ref = receipt.customer_ref
    if receipt.journey is Journey.SCHEDULED:
        when = services.soon(receipt.first_wave_at, locale) or t(locale, "now")
        replies.add(message.answer(t(locale, "order_scheduled", ref=ref, when=when)))
    elif receipt.journey is Journey.COOLDOWN:
        until = services.when(receipt.cooldown_until, locale)
        replies.add(message.answer(t(locale, "order_cooldown", ref=ref, until=until)))
    elif receipt.journey is Journey.NOT_SURVEYED:
        replies.add(message.answer(t(locale, "order_not_surveyed", ref=ref)))
    elif receipt.link_token is None:
        replies.add(message.answer(t(locale, "order_no_link", ref=ref)))
    else:
        link = services.deep_link(receipt.link_token)
        until = services.when(receipt.link_expires_at, locale)
        caption = t(locale, "order_link", ref=ref, link=link, until=until)
        photo = BufferedInputFile(qr_png(link), filename="link.png")
        replies.add(message.answer_photo(photo, caption=caption))


def setup() -> Router:
    router = Router(name="staff")
    router.message.filter(HasRole(Role.STAFF, Role.OWNER))
    router.message.register(on_order, Command("order"))
    return router
