"""Owners: the report on demand — `/report [7d|30d|YYYY-MM-DD..YYYY-MM-DD] [segment]`."""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime, timedelta

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.methods import SendDocument, SendMessage, SendPhoto
from aiogram.types import BufferedInputFile, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.middlewares import Replies
from bot.roles import HasRole, Role
from bot.services import Services
from bot.texts import t
from reports.aggregate import Period
from reports.render_html import render_html
from reports.render_png import render_png_async
from reports.report import build_report
from reports.summary import summary_text

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
    session: AsyncSession,
    services: Services,
    replies: Replies,
    now: datetime,
    locale: str,
) -> None:
    words = (command.args or "").split()
    period = parse_period(words[0] if words else None, now.date())
    if period is None or len(words) > 2:
        replies.add(message.answer(t(locale, "report_usage")))
        return
    segment = words[1] if len(words) > 1 else None
    report = await build_report(session, services.survey, period, now, segment, locale)
    # Both renders in worker threads: the loop keeps serving other chats meanwhile.
    png = await render_png_async(report)
    html = await asyncio.to_thread(render_html, report, png)
    chat = message.chat.id
    name = f"report-{period.start}-{period.end - timedelta(days=1)}"
    replies.add(SendMessage(chat_id=chat, text=summary_text(report)))
    replies.add(SendPhoto(chat_id=chat, photo=BufferedInputFile(png, f"{name}.png")))
    document = BufferedInputFile(html.encode(), f"{name}.html")
    replies.add(SendDocument(chat_id=chat, document=document))


def setup() -> Router:
    router = Router(name="owner")
    router.message.filter(HasRole(Role.OWNER))
    router.message.register(on_report, Command("report"))
    return router
