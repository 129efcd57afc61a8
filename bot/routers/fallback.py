"""What nobody else handled: others at staff or owner commands, unknown commands, old buttons."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.callbacks import CancelReplyCb, ConsentCb, ForgetCb, LanguageCb, ResumeCb
from bot.middlewares import Replies
from bot.services import Services
from bot.texts import t

_OTHER_BUTTONS = {
    cb.__prefix__ for cb in (ConsentCb, ForgetCb, LanguageCb, ResumeCb, CancelReplyCb)
}


async def is_command(message: Message) -> bool:
    return bool(message.text) and message.text.startswith("/")  # type: ignore[union-attr]


async def on_staff_command(
    message: Message, services: Services, replies: Replies, locale: str
) -> None:
    replies.add(message.answer(t(locale, "staff_only", business=services.business(locale))))


async def on_owner_command(
    message: Message, services: Services, replies: Replies, locale: str
) -> None:
    replies.add(message.answer(t(locale, "owner_only", business=services.business(locale))))


async def on_unknown_command(message: Message, replies: Replies, locale: str) -> None:
    replies.add(message.answer(t(locale, "unknown_command")))


async def on_unknown_callback(query: CallbackQuery, replies: Replies, locale: str) -> None:
    """Data no handler took: unknown, forged, or a button its message no longer offers."""
    known = (query.data or "").split(":", 1)[0] in _OTHER_BUTTONS
    replies.add(query.answer(t(locale, "button_gone" if known else "closed")))


def setup() -> Router:
    router = Router(name="fallback")
    router.message.register(on_staff_command, Command("order"))
    router.message.register(on_owner_command, Command("report"))
    router.message.register(on_unknown_command, is_command)
    router.callback_query.register(on_unknown_callback)
    return router
