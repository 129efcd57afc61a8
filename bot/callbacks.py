"""Callback data: short prefixes and ids only (Telegram allows 64 bytes, and the data is
visible to the client, so never text or personal data)."""

from __future__ import annotations

from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InaccessibleMessage, Message
from pydantic import Field

# A database id (BIGINT): forged data outside this range never reaches a query.
RowId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class AnswerCb(CallbackData, prefix="a"):
    d: RowId  # dispatch id
    q: str  # question id
    v: int  # value: rating, NPS, emotion/option index, -1 = skip


class ConsentCb(CallbackData, prefix="c"):
    link: RowId
    yes: bool


class LanguageCb(CallbackData, prefix="l"):
    code: str


class ForgetCb(CallbackData, prefix="f"):
    yes: bool


class ResumeCb(CallbackData, prefix="r"):
    pass


class ReplyCb(CallbackData, prefix="ar"):
    alert: RowId


class CancelReplyCb(CallbackData, prefix="ax"):
    pass


async def offered(query: CallbackQuery) -> bool:
    """The query's data is a button of the message it came from, as Telegram holds that
    message now: a callback acts only on a screen that offered it. Forged data (any client
    can send any data against any of its messages) and a button already taken away (a
    question answered, a prompt closed) change nothing and edit nothing."""
    message = query.message
    if not isinstance(message, Message) or message.reply_markup is None:
        return False
    buttons = message.reply_markup.inline_keyboard
    return any(button.callback_data == query.data for row in buttons for button in row)


async def answer_offered(query: CallbackQuery) -> bool:
    """As `offered`; a question Telegram no longer shows the bot (an old message) may
    still be answered: the answer service checks the dispatch and the question itself."""
    return isinstance(query.message, InaccessibleMessage) or await offered(query)
