"""Shell commands that work on the database without serving the bot."""

from __future__ import annotations

import uuid
from datetime import datetime

from bot.app import make_bot, utc_now
from bot.settings import Settings
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
