"""Shell commands that work on the database without serving the bot."""

from __future__ import annotations

import argparse
import csv
import sys
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app import make_bot, utc_now
from bot.progress import ReportProgress
from bot.services import deep_link
from bot.settings import Settings, SettingsError
from bot.startup import TelegramUnreachable, bot_user, open_database
from reports import texts as report_texts
from reports.aggregate import Period
from reports.weekly import week_period
from storage import deliveries, dispatches, orders, poller_lease
from storage.db import make_session_factory
from storage.models import Journey, ReportDelivery
from storage.poller_lease import Lease
from surveys.formats import moment
from surveys.journeys import Journeys, NewOrder, OrderReceipt, OrderRejected, validate_order
from surveys.loader import load_survey
from surveys.order_file import open_order_file
from surveys.order_import import ImportSummary, OrderImport


async def db_upgrade(settings: Settings) -> None:
    engine = await open_database(settings)
    await engine.dispose()


class CommandFailed(Exception):
    """The command stored nothing; the message says why in one line."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class NotRegistered(CommandFailed):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(f"not registered: {message}", exit_code)


NO_TELEGRAM = "(CJM_BOT_USERNAME makes links without asking it)"


async def add_order(
    settings: Settings,
    ref: str,
    segment: str | None,
    external_id: str | None,
    purchased_at: datetime | None,
) -> str:
    survey = load_survey(settings.survey, "CJM_SURVEY")
    journeys = Journeys(survey, settings.sending_rules, settings.link_ttl)
    # The bot's name first: without it there is no link to print, so nothing is stored.
    new = NewOrder(ref, external_id or f"cli:{uuid.uuid4().hex}", purchased_at, segment, "cli")
    try:
        validate_order(new, utc_now())
    except OrderRejected as error:
        raise NotRegistered(str(error), 1) from None
    username = settings.bot_username or await _link_username(settings)
    engine = await open_database(settings)
    try:
        async with make_session_factory(engine).begin() as session:
            receipt = await journeys.register_order(session, new, utc_now())
    except OrderRejected as error:
        raise NotRegistered(str(error), 1) from None
    finally:
        await engine.dispose()
    head = f"order {receipt.order_id} ({receipt.external_id}) for {receipt.customer_ref}: "
    zone = settings.sending_rules.timezone
    if receipt.journey is Journey.SCHEDULED and receipt.first_wave_at is not None:
        return head + f"scheduled: first questions {moment(receipt.first_wave_at, zone, 'en')}"
    if (
        receipt.journey is not Journey.AWAITING_LINK
        or receipt.link_token is None
        or receipt.link_expires_at is None
    ):
        return head + receipt.journey.replace("_", " ")
    link = deep_link(username, receipt.link_token)
    until = moment(receipt.link_expires_at, zone, "en")
    return head + f"waiting for the customer; link valid until {until}:\n{link}"


async def relink_customer(settings: Settings, ref: str) -> tuple[int, str]:
    """`cjm customer relink REF`: (exit code, what to print)."""
    survey = load_survey(settings.survey)
    journeys = Journeys(survey, settings.sending_rules, settings.link_ttl)
    engine = await open_database(settings)
    try:
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


async def _link_username(settings: Settings) -> str:
    if settings.bot_token is None or not settings.bot_token.get_secret_value().strip():
        raise NotRegistered(
            "the customer's link needs the bot's name: set CJM_BOT_USERNAME, or "
            "CJM_BOT_TOKEN (from @BotFather)",
            2,
        )
    try:
        return await _bot_username(settings)
    except SettingsError as error:
        raise NotRegistered(str(error), 2) from None
    except TelegramUnreachable as error:
        raise NotRegistered(f"{error} {NO_TELEGRAM}", 1) from None


async def _bot_username(settings: Settings) -> str:
    bot = make_bot(settings)
    try:
        return (await bot_user(bot, settings)).username or "bot"
    finally:
        await bot.session.close()


async def import_orders(
    settings: Settings, args: argparse.Namespace, progress: ReportProgress
) -> ImportSummary:
    """`cjm orders import`: see surveys.order_import."""
    with open_order_file(args.file, args.sheet):
        pass  # a missing file or a bad header stops here, before the database is touched
    survey = load_survey(settings.survey, "CJM_SURVEY")
    journeys = Journeys(survey, settings.sending_rules, settings.link_ttl)
    links = await LinkFile.open(settings, args.links) if args.links and not args.dry_run else None
    engine = await open_database(settings)
    try:
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
        try:
            username = settings.bot_username or await _bot_username(settings)
        except TelegramUnreachable as error:
            raise CommandFailed(f"nothing imported: {error} {NO_TELEGRAM}", 1) from None
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


SKIP_REASONS = 10  # `cjm status` lists the commonest reasons a wave was skipped


async def status(settings: Settings, now: datetime | None = None) -> str:
    now = now or utc_now()
    engine = await open_database(settings)
    try:
        async with make_session_factory(engine).begin() as session:
            counts = await dispatches.counts_by_status(session)
            skipped = await dispatches.skipped_reasons(session, SKIP_REASONS)
            due = await dispatches.next_due(session)
            waiting, expired = await orders.awaiting_links(session, now)
            weekly = await deliveries.latest_deliveries(session)
            leases = await poller_lease.leases(session)
    finally:
        await engine.dispose()
    zone = settings.sending_rules.timezone
    lines = []
    for state, count in sorted(counts.items()):
        lines.append(f"{state:>10}: {count}")
        if state == "skipped":  # why, under the count: each reason with its wave
            lines += [f"{'':>12}{n} × {wave}: {why}" for wave, why, n in skipped]
    unknown = counts.get("unknown", 0)
    if unknown:
        lines.append(
            f"{unknown} sends may or may not have arrived (the answer was lost): "
            "`cjm waves resend --unknown` lists them and sends them again"
        )
    if not lines:
        later = " (they are planned when a customer opens the link)" if waiting else ""
        lines = [f"no waves yet{later}"]
    if due is not None:
        lines.append(f"next wave: {_local(due, zone)}")
    if waiting:
        stale = f" ({expired} with the link expired)" if expired else ""
        lines.append(f"orders waiting for the customer to open the link: {waiting}{stale}")
    lines += [_weekly_line(row, zone) for row in weekly]
    if not settings.webhook_url:  # in webhook mode Telegram posts to every process
        lines += _polling_lines(leases, now, zone)
    return "\n".join(lines)


def _polling_lines(leases: list[Lease], now: datetime, zone: ZoneInfo) -> list[str]:
    """Which `cjm run` polls Telegram (one per bot: the holder of its poller lease)."""
    if not leases:
        return ["polling Telegram: no process (no `cjm run` is running, or none polls yet)"]
    return [
        f"polling Telegram: process {lease.holder} since {_local(lease.acquired_at, zone)}"
        if lease.expires_at > now
        else f"polling Telegram: no process; {lease.holder} stopped renewing its lease at "
        f"{_local(lease.expires_at, zone)} (it died?): a standby takes over at its next try"
        for lease in leases
    ]


def _local(moment: datetime, zone: ZoneInfo) -> str:
    """The business's local time, as the bot shows it, with the zone named."""
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M} {zone.key}"


def _weekly_line(row: ReportDelivery, zone: ZoneInfo) -> str:
    """Each owner's latest weekly report, named by the days it covers."""
    period = week_period(row.week)
    days = f"{period.start}..{period.end - timedelta(days=1)}"
    if row.status == "sent" and row.sent_at is not None:
        state = f"sent {_local(row.sent_at, zone)}"
    elif row.status == "noted" and row.sent_at is not None:
        state = f"no answers yet: the how-to-start note sent {_local(row.sent_at, zone)}"
    elif row.status == "empty":
        state = f"not sent, {row.error}"
    else:
        state = row.status + (f" ({row.error})" if row.error else "")
    return f"weekly report of {days} to owner {row.owner_id}: {state}"


class ReportArgsError(ValueError):
    """`cjm report` was given arguments that make no report; the message is one line."""


def report_locales() -> tuple[str, ...]:
    """The languages the map, the HTML and the exports are written in: those with a catalog
    in reports/locales."""
    return report_texts.CATALOGS.languages()


UnknownWave = tuple[int, str | None, str, datetime | None, str | None]


async def unknown_waves(settings: Settings, since: datetime | None) -> list[UnknownWave]:
    engine = await open_database(settings)
    try:
        async with make_session_factory(engine).begin() as session:
            return await dispatches.unknown_waves(session, since)
    finally:
        await engine.dispose()


async def resend_waves(settings: Settings, ids: Sequence[int]) -> int:
    """Back to the outbox, due now: `cjm run` sends them on its next drain."""
    engine = await open_database(settings)
    try:
        async with make_session_factory(engine).begin() as session:
            return await dispatches.resend(session, ids, utc_now())
    finally:
        await engine.dispose()


def report_period(args: argparse.Namespace, today: datetime) -> Period:
    """--from/--to (inclusive), or the last --days days up to --to or today (UTC)."""
    if args.days < 1:
        raise ReportArgsError(f"--days {args.days}: give 1 or more days")
    end = args.end or today.date()
    if args.start is None:
        return Period.last_days(args.days, end)
    if args.start > end:
        to = f"--to {args.end}" if args.end else f"today ({end})"
        raise ReportArgsError(f"--from {args.start} is after {to}: put the earlier date first")
    return Period(args.start, end + timedelta(days=1))


def report_locale(args: argparse.Namespace) -> str | None:
    if args.locale is None or args.locale in report_locales():
        return args.locale  # type: ignore[no-any-return]
    supported = ", ".join(report_locales())
    raise ReportArgsError(f"--locale {args.locale} is not supported; use one of: {supported}")


async def write_report(
    settings: Settings, args: argparse.Namespace, progress: ReportProgress | None = None
) -> list[Path]:
    shown = progress or ReportProgress(sys.stderr)
    now = utc_now()
    period = report_period(args, now)
    locale = report_locale(args)
    out = args.out or Path(f"report-{period.start}-{period.end - timedelta(days=1)}")
    # numpy, scipy, matplotlib, jinja2, openpyxl: only where the files are written.
    from reports.files import write_report_files  # noqa: PLC0415

    engine = await open_database(settings)
    try:
        return await write_report_files(
            make_session_factory(engine), load_survey(settings.survey, "CJM_SURVEY"), period,
            out, now, args.segment, locale, progress=shown.step, rows=shown.rows,
        )  # fmt: skip
    finally:
        await engine.dispose()


async def suggest_themes(settings: Settings, days: int, segment: str | None = None) -> str:
    """`themes:` entries from the recurring words of the last `days` days' complaints that
    no theme of the survey covers; '' when there are none."""
    from reports.themes import suggested_themes, uncovered_terms  # noqa: PLC0415

    survey = load_survey(settings.survey, "CJM_SURVEY")
    period = Period.last_days(days, utc_now().date())
    engine = await open_database(settings)
    try:
        async with make_session_factory(engine)() as session:
            terms = await uncovered_terms(session, survey, period, segment)
    finally:
        await engine.dispose()
    return suggested_themes(survey, terms)
