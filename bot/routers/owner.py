"""Owners: the report on demand — `/report [7d|30d|YYYY-MM-DD..YYYY-MM-DD] [segment]`."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.middlewares import Replies
from bot.reporting import OwnerReports
from bot.roles import HasRole, Role
from bot.texts import t
from reports.aggregate import Period

_DAYS = re.compile(r"^(\d{1,3})d$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")


def parse_period(word: str | None, today: date) -> Period | None:
    """`7d`, `30d`, `2026-11-01..2026-11-30` (inclusive); None when it is neither."""
    word = word or "7d"
    if match := _DAYS.match(word):
        days = int(match[1])
        return Period.last_days(days, today) if 1 <= days <= 366 else None
    if match := _RANGE.match(word):
        try:
            start, end = date.fromisoformat(match[1]), date.fromisoformat(match[2])
        except ValueError:
            return None
        return Period(start, end + timedelta(days=1)) if start <= end else None
    return None


async def on_report(
    message: Message,
    command: CommandObject,
    owner_reports: OwnerReports,
    replies: Replies,
    now: datetime,
    locale: str,
) -> None:
    """Only checks the words and says it is on it: the report is built and sent by a
    background task, started once this update is committed, so the updates queued behind
    this one (polling handles them in turn) are not kept waiting for the drawing."""
    words = (command.args or "").split()
    period = parse_period(words[0] if words else None, now.date())
    if period is None or len(words) > 2:
        replies.add(message.answer(t(locale, "report_usage")))
        return
    segment = words[1] if len(words) > 1 else None
    replies.add(message.answer(t(locale, "report_building")))
    chat_id = message.chat.id

    async def build_and_send(_: Bot) -> None:
        owner_reports.start(chat_id, period, segment, locale)

    replies.after(build_and_send)


def setup() -> Router:
    router = Router(name="owner")
    router.message.filter(HasRole(Role.OWNER))
    router.message.register(on_report, Command("report"))
    return router
