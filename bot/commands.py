"""Shell commands that work on the database without serving the bot."""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from bot.app import make_bot, utc_now
from bot.settings import Settings
from reports.aggregate import Period
from reports.files import write_report_files
from storage import dispatches
from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.models import Journey
from surveys.journeys import Journeys, NewOrder, OrderRejected
from surveys.loader import load_survey


async def db_upgrade(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def add_order(
    settings: Settings,
    ref: str,
    segment: str | None,
    external_id: str | None,
    purchased_at: datetime | None,
) -> str:
    survey = load_survey(settings.survey)
    journeys = Journeys(survey, settings.sending_rules, settings.link_ttl)
    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
        new = NewOrder(ref, external_id or f"cli:{uuid.uuid4().hex}", purchased_at, segment, "cli")
        async with make_session_factory(engine).begin() as session:
            receipt = await journeys.register_order(session, new, utc_now())
    except OrderRejected as error:
        return f"not registered: {error}"
    finally:
        await engine.dispose()
    head = f"order {receipt.order_id} ({receipt.external_id}) for {receipt.customer_ref}: "
    if receipt.journey is not Journey.AWAITING_LINK or receipt.link_token is None:
        return head + receipt.journey.replace("_", " ")
    username = settings.bot_username or await _bot_username(settings)
    link = f"https://t.me/{username}?start={receipt.link_token}"
    until = f"{receipt.link_expires_at:%Y-%m-%d %H:%M} UTC"
    return head + f"waiting for the customer; link valid until {until}:\n{link}"


async def _bot_username(settings: Settings) -> str:
    bot = make_bot(settings)
    try:
        return (await bot.me()).username or "bot"
    finally:
        await bot.session.close()


async def status(settings: Settings) -> str:
    engine = make_engine(settings.database_url)
    try:
        async with make_session_factory(engine).begin() as session:
            counts = await dispatches.counts_by_status(session)
    finally:
        await engine.dispose()
    if not counts:
        return "no waves yet"
    return "\n".join(f"{status:>10}: {count}" for status, count in sorted(counts.items()))


def report_period(args: argparse.Namespace, today: datetime) -> Period:
    """--from/--to (inclusive), or the last --days days up to today (UTC)."""
    if args.start is None:
        return Period.last_days(args.days, today.date())
    end = args.end or today.date()
    return Period(args.start, end + timedelta(days=1))


async def write_report(settings: Settings, args: argparse.Namespace) -> list[Path]:
    now = utc_now()
    period = report_period(args, now)
    out = args.out or Path(f"report-{period.start}-{period.end - timedelta(days=1)}")
    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
        return await write_report_files(
            make_session_factory(engine), load_survey(settings.survey), period, out, now,
            args.segment, args.locale, progress=lambda step: print(f"… {step}", file=sys.stderr),
        )  # fmt: skip
    finally:
        await engine.dispose()
