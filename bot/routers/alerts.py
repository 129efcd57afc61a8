"""Staff and owners answer an unhappy customer: Reply on the alert, then one message."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiogram import Router
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts import AlertDesk
from bot.callbacks import CancelReplyCb, ReplyCb, offered
from bot.keyboards import cancel_reply_keyboard
from bot.middlewares import Replies
from bot.roles import Role
from bot.texts import t
from storage import alerts as stored
from storage.models import ReplyDraft
from surveys import alerts
from surveys.alerts import MAX_REPLY
from surveys.formats import number


async def has_draft(
    message: Message, role: Role, session: AsyncSession, now: datetime
) -> bool | dict[str, Any]:
    """A staff member's text while a reply is pending (async: sync filters run in a
    thread). Customers' messages are turned away before any query."""
    if role is Role.CUSTOMER or message.from_user is None:
        return False
    if not message.text or message.text.startswith("/"):
        return False
    draft = await alerts.pending_draft(session, message.from_user.id, now)
    return False if draft is None else {"draft": draft}


async def on_reply(
    query: CallbackQuery,
    callback_data: ReplyCb,
    session: AsyncSession,
    alert_desk: AlertDesk,
    replies: Replies,
    now: datetime,
    locale: str,
    role: Role,
) -> None:
    if role is Role.CUSTOMER:
        replies.add(query.answer(t(locale, "reply_staff_only"), show_alert=True))
        return
    target = await alerts.begin_reply(session, query.from_user.id, callback_data.alert, now)
    if target is None:
        replies.add(query.answer(t(locale, "reply_no_alert"), show_alert=True))
        return
    if target.chat_id is None:
        replies.add(query.answer(t(locale, "reply_forgotten"), show_alert=True))
        return
    replies.add(query.answer())
    text = t(locale, "reply_prompt", ref=target.ref)
    keyboard = cancel_reply_keyboard(locale)
    prompt = SendMessage(chat_id=query.from_user.id, text=text, reply_markup=keyboard)
    replies.add(prompt, alert_desk.mentioned(target.alert_id, query.from_user.id))


async def on_cancel(
    query: CallbackQuery, session: AsyncSession, replies: Replies, locale: str
) -> None:
    await stored.drop_draft(session, query.from_user.id)
    replies.add(query.answer())
    if query.message is not None:
        replies.add(
            query.message.edit_text(t(locale, "reply_cancelled"), reply_markup=None)  # type: ignore[union-attr]
        )


async def on_draft_text(
    message: Message,
    draft: ReplyDraft,
    session: AsyncSession,
    alert_desk: AlertDesk,
    replies: Replies,
    now: datetime,
    locale: str,
) -> None:
    assert message.text is not None and message.from_user is not None
    text = message.text.strip()
    if len(text) > MAX_REPLY:  # the draft stays: the staff member sends a shorter one
        limit = number(MAX_REPLY, locale)
        replies.add(message.answer(t(locale, "reply_too_long", limit=limit)))
        return
    reply = await alerts.take_draft(session, draft, text, now)
    if reply is None:
        replies.add(message.answer(t(locale, "reply_forgotten")))
        return
    user = message.from_user
    replies.after(alert_desk.deliver(reply, user.id, user.first_name, locale))


def setup() -> Router:
    router = Router(name="alerts")
    router.callback_query.register(on_reply, ReplyCb.filter())
    router.callback_query.register(on_cancel, CancelReplyCb.filter(), offered)
    router.message.register(on_draft_text, has_draft)
    return router
