"""Shell commands that work on the database without serving the bot."""

from __future__ import annotations

import argparse
import csv
import sys
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from bot.app import make_bot, utc_now
from bot.progress import ReportProgress
from bot.services import deep_link
from bot.settings import Settings
from reports.aggregate import Period
from storage import deliveries, dispatches
from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.models import Journey, ReportDelivery
from surveys.journeys import Journeys, NewOrder, OrderReceipt, OrderRejected
from surveys.loader import load_survey
from surveys.order_file import open_order_file
from surveys.order_import import ImportSummary, OrderImport


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
    link = deep_link(username, receipt.link_token)
    until = f"{receipt.link_expires_at:%Y-%m-%d %H:%M} UTC"
    return head + f"waiting for the customer; link valid until {until}:\n{link}"


async def relink_customer(settings: Settings, ref: str) -> tuple[int, str]:
    """`cjm customer relink REF`: (exit code, what to print)."""
    survey = load_survey(settings.survey)
    journeys = Journeys(survey, settings.sending_rules, settings.link_ttl)
    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
        async with make_session_factory(engine).begin() as session:
            made = await journeys.relink(session, ref, utc_now())
    finally:
        await engine.dispose()
    if made.refused or made.token is None or made.expires_at is None:
        return 1, f"no link made: {made.refused}"
    username = settings.bot_username or await _bot_username(settings)
    until = f"{made.expires_at:%Y-%m-%d %H:%M} UTC"
    return 0, (
        f"{ref.strip()} stays on their Telegram account until someone opens this link and "
        f"agrees; that account then replaces it (valid until {until}, once):\n"
        + deep_link(username, made.token)
    )


async def _bot_username(settings: Settings) -> str:
    bot = make_bot(settings)
    try:
        return (await bot.me()).username or "bot"
    finally:
        await bot.session.close()


async def import_orders(
    settings: Settings, args: argparse.Namespace, progress: ReportProgress
) -> ImportSummary:
    """`cjm orders import`: see surveys.order_import."""
    with open_order_file(args.file, args.sheet):
        pass  # a missing file or a bad header stops here, before the database is touched
    survey = load_survey(settings.survey)
    journeys = Journeys(survey, settings.sending_rules, settings.link_ttl)
    links = await LinkFile.open(settings, args.links) if args.links and not args.dry_run else None
    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
        importer = OrderImport(
            journeys, make_session_factory(engine), settings.sending_rules.timezone, utc_now,
            step=progress.step, rows=progress.rows,
            receipts=links.write if links else lambda _receipts: None, known_links=bool(links),
        )  # fmt: skip
        return await importer.run(
            args.file, args.sheet, skip_bad=args.skip_bad, dry_run=args.dry_run
        )
    finally:
        await engine.dispose()
        if links:
            links.close()


class LinkFile:
    """`--links FILE`: the deep link of every order of the file whose customer has not
    opened the bot yet, created by this run or an earlier one (a rerun after a crash lists
    the links the crashed run never wrote out), to hand out by SMS, e-mail or receipt (one
    CSV row each)."""

    HEADER = ("external_id", "customer_ref", "link", "valid_until")

    def __init__(self, path: Path, username: str) -> None:
        self.username = username
        self.file = path.open("w", encoding="utf-8", newline="")
        self.writer = csv.writer(self.file)
        self.writer.writerow(self.HEADER)

    @classmethod
    async def open(cls, settings: Settings, path: Path) -> LinkFile:
        username = settings.bot_username or await _bot_username(settings)
        return cls(path, username)

    def write(self, receipts: Sequence[OrderReceipt]) -> None:
        for receipt in receipts:
            waiting = receipt.journey is Journey.AWAITING_LINK
            if waiting and receipt.link_token and receipt.link_expires_at:
                link = deep_link(self.username, receipt.link_token)
                until = receipt.link_expires_at.isoformat(timespec="minutes")
                self.writer.writerow((receipt.external_id, receipt.customer_ref, link, until))
        self.file.flush()

    def close(self) -> None:
        self.file.close()


async def status(settings: Settings) -> str:
    engine = make_engine(settings.database_url)
    try:
        async with make_session_factory(engine).begin() as session:
            counts = await dispatches.counts_by_status(session)
            weekly = await deliveries.latest_deliveries(session)
    finally:
        await engine.dispose()
    lines = [f"{status:>10}: {count}" for status, count in sorted(counts.items())]
    lines = (lines or ["no waves yet"]) + [_weekly_line(row) for row in weekly]
    return "\n".join(lines)


def _weekly_line(row: ReportDelivery) -> str:
    """Each owner's latest weekly report."""
    why = f" ({row.error})" if row.error and row.status != "sent" else ""
    return f"weekly report to {row.owner_id}, week of {row.week}: {row.status}{why}"


def report_period(args: argparse.Namespace, today: datetime) -> Period:
    """--from/--to (inclusive), or the last --days days up to today (UTC)."""
    if args.start is None:
        return Period.last_days(args.days, today.date())
    end = args.end or today.date()
    return Period(args.start, end + timedelta(days=1))


async def write_report(
    settings: Settings, args: argparse.Namespace, progress: ReportProgress | None = None
) -> list[Path]:
    shown = progress or ReportProgress(sys.stderr)
    now = utc_now()
    period = report_period(args, now)
    out = args.out or Path(f"report-{period.start}-{period.end - timedelta(days=1)}")
    # numpy, scipy, matplotlib, jinja2, openpyxl: only where the files are written.
    from reports.files import write_report_files  # noqa: PLC0415

    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
        return await write_report_files(
            make_session_factory(engine), load_survey(settings.survey), period, out, now,
            args.segment, args.locale, progress=shown.step, rows=shown.rows,
        )  # fmt: skip
    finally:
        await engine.dispose()
