"""Staff: register an order and hand the customer a link or QR code."""

from __future__ import annotations

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
from surveys.journeys import NewOrder, OrderReceipt, OrderRejected


async def on_order(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    services: Services,
    replies: Replies,
    now: datetime,
    locale: str,
) -> None:
    parts = (command.args or "").split()
    if not parts or len(parts) > 2:
        replies.add(message.answer(t(locale, "order_usage")))
        return
    # The message identifies the order: a replayed or re-sent update registers it once.
    new = NewOrder(
        customer_ref=parts[0], external_id=f"tg:{message.chat.id}:{message.message_id}",
        segment=parts[1] if len(parts) > 1 else None, source="bot",
    )  # fmt: skip
    try:
        receipt = await services.journeys.register_order(session, new, now)
    except OrderRejected as error:
        replies.add(message.answer(t(locale, "order_rejected", reason=error)))
        return
    _present(receipt, message, services, replies, locale)


def _present(
    receipt: OrderReceipt, message: Message, services: Services, replies: Replies, locale: str
) -> None:
    ref = receipt.customer_ref
    if receipt.journey is Journey.SCHEDULED:
        when = services.when(receipt.first_wave_at, locale) or t(locale, "now")
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
