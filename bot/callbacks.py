"""Callback data: short prefixes and ids only (Telegram allows 64 bytes, and the data is
visible to the client, so never text or personal data)."""

from __future__ import annotations

from typing import Annotated

from aiogram.filters.callback_data import CallbackData
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
