"""`cjm demo`: the whole bot with simulated people, for anyone without a bot token yet.

An in-process fake Telegram (demo/bot_api.py) serves the real bot, built by `build_app`
and polling as `cjm run` does, on a simulated clock. For each guest a staff member sends
`/order <ref>`, the guest opens the deep link from the QR caption and consents; then time
moves on hour by hour (quiet stretches skipped), the outbox is drained, and guests answer
the questions they find in their chats (demo/guests.py). At the end a short summary is
computed in SQL from the answers table; the SQLite file stays for a closer look.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random
from typing import Any, TextIO

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App, build_app, serving
from bot.settings import Settings
from demo.bot_api import DemoBotAPI, JsonDict
from demo.guests import Behaviour, Guest, Tap, consent_button, next_wakeup, on_screen
from reports import rollups
from reports.aggregate import Period
from storage.models import Answer, Customer, Dispatch, DispatchStatus
from surveys.dispatcher import DrainReport
from surveys.model import Survey

STAFF: JsonDict = {"id": 100, "is_bot": False, "first_name": "Barista", "language_code": "en"}
DEMO_TOKEN = "1000000:demo-no-network"  # aiogram wants digits, a colon, then anything
DATABASE_NAME = "demo.db"
TICK = timedelta(hours=1)
ROUND = timedelta(seconds=20)  # between one guest's taps
MAX_ROUNDS = 40  # taps per guest per tick; a wave has fewer questions
OPENING = timedelta(hours=12)  # the first day's orders come in over the opening hours
LINK = re.compile(r"\?start=([A-Za-z0-9_-]+)")
DAY_LABELS = {
    "orders": "orders", "consented": "consented", "declined": "declined",
    "sent": "waves sent", "reminded": "reminders", "expired": "expired",
    "taps": "taps", "comments": "comments", "stops": "/stop",
}  # fmt: skip


class DemoError(RuntimeError):
    """The bot did not behave as a person using it would expect."""


@dataclass
class DemoOptions:
    customers: int = 200
    seed: int = 7
    out: Path = Path("cjm-demo")
    start: datetime | None = None  # the first order; default a month ago, 09:00 UTC


@dataclass
class SimClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def move_to(self, moment: datetime) -> None:
        self.now = max(self.now, moment)


@dataclass
class DayLog:
    day: int = 0
    counts: Counter[str] = field(default_factory=Counter)

    def line(self) -> str | None:
        parts = [f"{label} {self.counts[k]}" for k, label in DAY_LABELS.items() if self.counts[k]]
        return f"  day {self.day:>2}: " + ", ".join(parts) if parts else None


@dataclass(frozen=True)
class StageRow:
    stage: str
    name: str
    answers: int = 0
    rating: float | None = None
    csat: float | None = None  # share of ratings 4–5
    valence: float | None = None
    nps: float | None = None  # promoters − detractors, in %
    comments: int = 0


@dataclass(frozen=True)
class WaveRow:
    sent: int
    answered: int
    expired: int
    reminded: int
    cancelled: int


@dataclass(frozen=True)
class DemoResult:
    database: Path
    stages: list[StageRow]
    waves: WaveRow
    customers: dict[str, int]
    seconds: float


# -- running it -------------------------------------------------------------------------
def run_cli(customers: int, seed: int, out: str) -> int:
    if customers < 1:
        print("--customers: give at least 1", file=sys.stderr)
        return 2
    try:
        asyncio.run(run_demo(DemoOptions(customers, seed, Path(out)), sys.stdout))
    except (DemoError, TimeoutError) as error:
        print(f"demo failed: {error}", file=sys.stderr)
        return 1
    return 0


async def run_demo(options: DemoOptions, out: TextIO) -> DemoResult:
    started = time.perf_counter()
    database = fresh_database(options.out)
    clock = SimClock(options.start or default_start())
    async with DemoBotAPI(clock) as api:
        app = await build_app(demo_settings(api.url, database), clock=clock)
        try:
            _intro(options, app, api, database, out)
            behaviour = Behaviour(app.survey, Random(options.seed))
            async with serving(app, timer=False, polling_timeout=1, http=False):
                await Simulation(app, api, clock, behaviour, out).run(options.customers)
            files = await _report_files(app, options, clock.now)
            result = await summarise(app, database, time.perf_counter() - started)
        finally:
            await app.close()
    print_summary(result, out)
    print("\nThe report (as owners get it):", *(f"  {path}" for path in files), sep="\n", file=out)
    # The summary's first lines: the places to improve, the planted themes first.
    summary = files[0].read_text(encoding="utf-8")
    print("\nThe weekly summary (as owners get it in Telegram):", summary, sep="\n", file=out)
    return result


async def _report_files(app: App, options: DemoOptions, now: datetime) -> list[Path]:
    """The same files `cjm report` writes, for the whole simulated month, in English."""
    first = (options.start or default_start()).date()
    period = Period(first, now.date() + timedelta(days=1))
    # numpy, scipy, matplotlib, jinja2, openpyxl: only where the files are written.
    from reports.files import write_report_files  # noqa: PLC0415

    # As the scheduler does every quarter hour: the closed days come from the rollup.
    await rollups.refresh_survey(app.sessions, app.survey, now)
    return await write_report_files(
        app.sessions, app.survey, period, options.out.resolve() / "report", now, locale="en",
        summary=True,
    )  # fmt: skip


def default_start() -> datetime:
    today = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    return today - timedelta(days=31)


def fresh_database(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    database = (out / DATABASE_NAME).resolve()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    return database


def demo_settings(api_url: str, database: Path) -> Settings:
    """Everything explicit, .env ignored: the demo must never reach a real bot or database."""
    values: dict[str, Any] = {
        "bot_token": DEMO_TOKEN, "bot_username": None,
        "telegram_api_url": api_url, "database_url": f"sqlite+aiosqlite:///{database}",
        "redis_url": None, "webhook_url": None, "survey": "cafe", "timezone": "UTC",
        "default_locale": "en", "quiet_hours": "off", "send_rate": 0,
        "staff_ids": frozenset({STAFF["id"]}), "owner_ids": frozenset(), "request_timeout": 10,
    }  # fmt: skip
    return Settings.explicit(**values)


def _intro(options: DemoOptions, app: App, api: DemoBotAPI, database: Path, out: TextIO) -> None:
    waves = ", ".join(f"{_duration(w.after)} ({w.id})" for w in app.survey.waves)
    lines = (
        f"cjm demo: {options.customers} simulated guests of a new cafe (seed {options.seed})",
        f"  fake Telegram Bot API in this process at {api.url}: nothing leaves the machine",
        f"  database: {database}",
        f"  waves go out {waves} after a purchase;",
        "  simulated time moves on hour by hour, skipping hours when nothing is due:",
    )
    print("\n".join(lines), file=out, flush=True)


# -- the simulation ---------------------------------------------------------------------
class Simulation:
    def __init__(
        self, app: App, api: DemoBotAPI, clock: SimClock, behaviour: Behaviour, out: TextIO
    ) -> None:
        self.app = app
        self.api = api
        self.clock = clock
        self.behaviour = behaviour
        self.out = out
        self.start = clock.now
        self.guests: list[Guest] = []
        self.log = DayLog()

    async def run(self, customers: int) -> None:
        spacing = OPENING / customers
        arrivals = deque(
            (self.start + i * spacing, self.behaviour.guest(i)) for i in range(customers)
        )
        end = arrivals[-1][0] + journey_span(self.app.survey)
        tick: datetime | None = self.start
        while tick is not None and tick <= end:
            self._roll_day(tick)
            while arrivals and arrivals[0][0] <= tick:
                moment, guest = arrivals.popleft()
                self.clock.move_to(moment)
                await self._welcome(guest)
            await self._hour(tick)
            tick = await self._next_tick(tick, arrivals[0][0] if arrivals else None)
        self._print_day()

    async def _next_tick(self, tick: datetime, arrival: datetime | None) -> datetime | None:
        """The next hour in which something can happen (None: nothing will): quiet
        stretches are skipped."""
        async with self.app.sessions() as session:
            due = await next_due(session)
        moments = [m for m in (due, arrival, next_wakeup(self.guests, self.clock.now)) if m]
        if not moments:
            return None
        hours = -((self.start - min(moments)) // TICK)  # rounded up
        return max(tick + TICK, self.start + hours * TICK)

    async def _hour(self, tick: datetime) -> None:
        self.clock.move_to(tick)
        self._count(await self.app.waves.drain())
        await self._answer_rounds()

    def _roll_day(self, tick: datetime) -> None:
        day = (tick.date() - self.start.date()).days
        if day != self.log.day:
            self._print_day()
            self.log = DayLog(day)

    async def _welcome(self, guest: Guest) -> None:
        """The cashier registers the order; the guest scans the QR code and consents."""
        self.log.counts["orders"] += 1
        await self._say(STAFF, f"/order {guest.ref} {guest.segment}")
        match = LINK.search(str(self._last(STAFF["id"]).get("caption", "")))
        if match is None:
            raise DemoError(f"/order {guest.ref}: the bot's reply carries no deep link")
        await self._say(guest.user, f"/start {match.group(1)}")
        yes = self.behaviour.consents()
        consent = self._last(guest.user_id)
        data = consent_button(consent, yes)
        if data is None:
            raise DemoError(f"/start for {guest.ref}: no consent buttons in the bot's reply")
        await self.api.wait_acked(self.api.tap(guest.user, consent, data))
        self.log.counts["consented" if yes else "declined"] += 1
        if yes:
            self.guests.append(guest)

    async def _answer_rounds(self) -> None:
        """Every guest with something to do taps once per round, until nobody has."""
        for _ in range(MAX_ROUNDS):
            pushed = [uid for guest in self.guests if (uid := self._act(guest)) is not None]
            if not pushed:
                return
            await self.api.wait_acked(max(pushed))
            self.clock.move_to(self.clock.now + ROUND)

    def _act(self, guest: Guest) -> int | None:
        if self.api.version(guest.user_id) != guest.version:
            guest.version = self.api.version(guest.user_id)
            guest.screen = on_screen(self.api.messages(guest.user_id))
        if guest.screen is None:
            return None
        action = self.behaviour.act(guest, guest.screen, self.clock.now)
        if action is None:
            return None
        if isinstance(action, Tap):
            self.log.counts["taps"] += 1
            return self.api.tap(guest.user, action.message, action.data)
        self.log.counts["stops" if action.text == "/stop" else "comments"] += 1
        return self.api.send_text(guest.user, action.text)

    async def _say(self, user: JsonDict, text: str) -> None:
        await self.api.wait_acked(self.api.send_text(user, text))

    def _last(self, chat_id: int) -> JsonDict:
        messages = self.api.messages(chat_id)
        return messages[-1] if messages else {}

    def _count(self, report: DrainReport) -> None:
        for outcome in ("sent", "reminded", "expired"):
            self.log.counts[outcome] += report.outcomes[outcome]

    def _print_day(self) -> None:
        line = self.log.line()
        if line:
            print(line, file=self.out, flush=True)


async def next_due(session: AsyncSession) -> datetime | None:
    """When the outbox next has something to send, remind or expire."""
    waiting = Dispatch.status.in_((DispatchStatus.PENDING, DispatchStatus.SENT))
    return await session.scalar(select(func.min(Dispatch.due_at)).where(waiting))


def journey_span(survey: Survey) -> timedelta:
    """From an order until its last wave has surely expired."""
    return max(wave.after + wave.expire_after for wave in survey.waves) + timedelta(days=1)


# -- the summary ------------------------------------------------------------------------
async def summarise(app: App, database: Path, seconds: float) -> DemoResult:
    async with app.sessions() as session:
        stages = await stage_rows(session, app.survey)
        waves = await wave_row(session)
        customers = await customer_counts(session)
    return DemoResult(database, stages, waves, customers, seconds)


async def stage_rows(session: AsyncSession, survey: Survey) -> list[StageRow]:
    """Per stage, in the database: GROUP BY stage over the answers table."""
    csat = case((Answer.rating >= 4, 1.0), (Answer.rating.is_not(None), 0.0))
    nps = case((Answer.nps >= 9, 100.0), (Answer.nps <= 6, -100.0), (Answer.nps >= 0, 0.0))
    figures = (
        func.count(), func.avg(Answer.rating), func.avg(csat), func.avg(Answer.valence),
        func.avg(nps), func.count(Answer.comment),
    )  # fmt: skip
    rows = await session.execute(
        select(Answer.stage, *figures)
        .where(Answer.survey_id == survey.id, Answer.skipped.is_(False))
        .group_by(Answer.stage)
    )
    found = {row[0]: row[1:] for row in rows}
    return [
        _stage_row(stage.id, survey.text(stage.name, "en"), found.get(stage.id))
        for stage in survey.stages
    ]


def _stage_row(stage: str, name: str, figures: Sequence[Any] | None) -> StageRow:
    if figures is None:
        return StageRow(stage, name)
    answers, rating, csat, valence, nps, comments = figures
    return StageRow(
        stage, name, int(answers), _float(rating), _float(csat), _float(valence), _float(nps),
        int(comments),
    )  # fmt: skip


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _tally(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count(case((condition, 1)))


async def wave_row(session: AsyncSession) -> WaveRow:
    row = (
        await session.execute(
            select(
                func.count(Dispatch.sent_at),
                _tally(Dispatch.status == DispatchStatus.ANSWERED),
                _tally(Dispatch.status == DispatchStatus.EXPIRED),
                func.count(Dispatch.reminded_at),
                _tally(Dispatch.status == DispatchStatus.CANCELLED),
            )
        )
    ).one()
    return WaveRow(*(int(value) for value in row))


async def customer_counts(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Customer.status, func.count()).group_by(Customer.status))
    return {str(status): int(count) for status, count in rows}


def print_summary(result: DemoResult, out: TextIO) -> None:
    waves, people = result.waves, result.customers
    lines = [
        "",
        "Answers by stage (SQL: GROUP BY stage over the answers table):",
        f"  {'stage':<14}{'answers':>8}{'avg rating':>12}{'CSAT':>7}{'valence':>9}"
        f"{'NPS':>6}{'comments':>10}",
        *(_stage_line(row) for row in result.stages),
        f"Waves: {waves.sent} sent, {waves.answered} answered, {waves.expired} expired, "
        f"{waves.cancelled} cancelled by /stop; {waves.reminded} reminders sent",
        f"Guests: {sum(people.values())} with orders, {people.get('active', 0)} answering, "
        f"{people.get('declined', 0)} declined, {people.get('stopped', 0)} stopped",
        *_lowest(result.stages),
        f"Database: {result.database}",
        f"  e.g. sqlite3 {result.database} "
        '"SELECT stage, avg(rating) FROM answers GROUP BY stage"',
        f"Done in {result.seconds:.1f} s. With a token from @BotFather in CJM_BOT_TOKEN, "
        "`python3 manage.py run` starts the real bot.",
    ]
    print("\n".join(lines), file=out, flush=True)


def _stage_line(row: StageRow) -> str:
    return (
        f"  {row.name:<14}{row.answers:>8}{_fmt(row.rating, '.2f'):>12}{_fmt(row.csat, '.0%'):>7}"
        f"{_fmt(row.valence, '+.2f'):>9}{_fmt(row.nps, '+.0f'):>6}{row.comments:>10}"
    )


def _duration(delta: timedelta) -> str:
    days, seconds = delta.days, delta.seconds
    return f"{days}d" if days and not seconds else f"{days * 24 + seconds // 3600}h"


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _lowest(stages: list[StageRow]) -> list[str]:
    rated = [row for row in stages if row.rating is not None]
    if not rated:
        return []
    worst = min(rated, key=lambda row: row.rating or 0)
    return [
        f"Lowest rated stage: {worst.name} (avg {_fmt(worst.rating, '.2f')}, "
        f"CSAT {_fmt(worst.csat, '.0%')}, {worst.comments} comments)"
    ]
