"""Owners: the report on demand — `/report [7d|30d|YYYY-MM-DD..YYYY-MM-DD] [segment]`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.middlewares import Replies
from bot.reporting import OwnerReports
from bot.roles import HasRole, Role
from bot.services import Services
from bot.texts import report_files, t
from reports.aggregate import Period
from storage import answers, orders

MAX_DAYS = 366
_DAYS = re.compile(r"^(\d+)d$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")
# A word shaped like a period is read as one (and refused if it is a wrong one); any
# other word is the segment, so `/report downtown` is the last 7 days of downtown.
_PERIOD_LIKE = re.compile(r"^\d+d$|\.\.|^\d{4}-\d")


class BadRequest(Exception):
    """The words of a `/report` the owner is to be told about: a text key and its values."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


@dataclass(frozen=True, slots=True)
class ReportRequest:
    period: Period
    segment: str | None


def parse_period(word: str | None, today: date) -> Period:
    """`7d`, `30d`, `2026-11-01..2026-11-30` (inclusive); BadRequest when it is neither."""
    word = word or "7d"
    if match := _DAYS.match(word):
        days = int(match[1])
        if not 1 <= days <= MAX_DAYS:
            raise BadRequest("report_days", limit=MAX_DAYS, word=word)
        return Period.last_days(days, today)
    if match := _RANGE.match(word):
        try:
            start, end = date.fromisoformat(match[1]), date.fromisoformat(match[2])
        except ValueError:
            raise BadRequest("report_bad_date", word=word) from None
        if start > end:
            raise BadRequest("report_reversed", word=word)
        if (end - start).days + 1 > MAX_DAYS:
            raise BadRequest("report_days", limit=MAX_DAYS, word=word)
        return Period(start, end + timedelta(days=1))
    raise BadRequest("report_usage")


def parse_request(words: list[str], today: date) -> ReportRequest:
    """A period and a segment, in either order, each optional."""
    periods = [word for word in words if _PERIOD_LIKE.search(word)]
    others = [word for word in words if not _PERIOD_LIKE.search(word)]
    if len(periods) > 1 or len(others) > 1:
        raise BadRequest("report_usage")
    period = parse_period(periods[0] if periods else None, today)
    return ReportRequest(period, others[0] if others else None)


async def check_answers(session: AsyncSession, survey_id: str, request: ReportRequest) -> None:
    """A period without answers would give an empty map: say so instead of drawing it."""
    period, segment = request.period, request.segment
    if await answers.any_answered(session, survey_id, period.start, period.end, segment):
        return
    last = period.end - timedelta(days=1)
    shown = (
        f"{period.start:%d.%m.%Y}"
        if last == period.start
        else (f"{period.start:%d.%m.%Y}–{last:%d.%m.%Y}")
    )
    raise BadRequest(
        "report_empty_segment" if segment else "report_empty", days=shown, segment=segment
    )


async def check_segment(session: AsyncSession, survey_id: str, segment: str | None) -> None:
    """A segment no order has would give an empty map: say which ones there are instead."""
    if segment is None:
        return
    known = await orders.segments(session, survey_id)
    if segment in known:
        return
    if not known:
        raise BadRequest("report_no_segments", segment=segment)
    raise BadRequest("report_unknown_segment", segment=segment, segments=", ".join(known))


async def on_report(
    message: Message,
    command: CommandObject,
    owner_reports: OwnerReports,
    services: Services,
    session: AsyncSession,
    replies: Replies,
    now: datetime,
    locale: str,
    report_formats: tuple[str, ...],
) -> None:
    """Only checks the words and says it is on it: the report is built and sent by a
    background task, started once this update is committed, so the updates queued behind
    this one (polling handles them in turn) are not kept waiting for the drawing."""
    try:
        request = parse_request((command.args or "").split(), now.date())
        await check_segment(session, services.survey.id, request.segment)
        await check_answers(session, services.survey.id, request)
    except BadRequest as bad:
        replies.add(message.answer(t(locale, bad.key, **bad.values)))
        return
    files = report_files(report_formats, locale)
    replies.add(message.answer(t(locale, "report_building", files=files)))
    chat_id = message.chat.id

    async def build_and_send(_: Bot) -> None:
        owner_reports.start(chat_id, request.period, request.segment, locale)

    replies.after(build_and_send)


def setup() -> Router:
    router = Router(name="owner")
    router.message.filter(HasRole(Role.OWNER))
    router.message.register(on_report, Command("report"))
    return router
