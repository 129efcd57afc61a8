"""The weekly report (SPEC §4 "Reports"): every owner gets it once per week.

Which week: the schedule (`CJM_REPORT_CRON`, crontab syntax in the business's time zone)
fires; the week is the firing's date there, and the report covers the 7 whole days
before it — fired Monday 2026-11-23 09:00, it covers Monday 16 to Sunday 22 November.
Like every report, the days are counted on the answers' UTC dates (reports.aggregate).

Once: before sending, each (owner, week) row in report_deliveries is claimed in a
committed transaction of its own (storage.deliveries); a claim a crashed process left is
retaken after the lease. Only the most recent firing at or before now is ever delivered,
so a bot that was down for a month sends one report on start, not four; older unfinished
weeks are given up.

Nothing to report, nothing sent: a week before the survey's first order, or a week without
answers, is recorded as `empty` and sends nothing. Until the first answer ever, each owner
gets once, instead, a short note in their language on how the first answers come (`noted`).

Telegram's answers: flood control, 5xx and network failures are retried with growing
pauses; a blocked bot (403) or a refused request fails the delivery for good, with the
reason. The parts already delivered are recorded, so a retry never repeats one — except
a part whose request got no answer at all (it may have arrived): unlike a survey
question, that part is sent again, since an owner is better served by a repeated file
than by a missing week.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reports.aggregate import Period
from reports.bundle import BundleBuilder, ReportBundle, ReportSender
from reports.schedule import latest_firing
from reports.texts import t, tn
from reports.words import language, unknown_sends
from reports.worker import WorkerFailed
from storage import answers, deliveries, dispatches, orders
from storage.deliveries import Claim
from storage.models import ReportDelivery
from surveys.messenger import Outage, Rejected, RetryAfter, SendError, Unreachable
from surveys.model import Survey

log = logging.getLogger(__name__)

WEEK_DAYS = 7
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=1)
MAX_ATTEMPTS = 12  # about six hours of retries


class Content(StrEnum):
    """What a week has for the owners."""

    REPORT = "report"
    NOTE = "note"  # no answers ever yet: how to get the first ones, once per owner
    BEFORE_FIRST_ORDER = "nothing to report: the week ended before the first order"
    NO_ANSWERS = "nothing to report: no answers that week"


@dataclass(frozen=True, slots=True)
class Week:
    day: date  # the firing's date, the key of the deliveries
    content: Content
    orders: int = 0  # for the note: the orders so far …
    waiting: int = 0  # … and those whose customer has not opened the link


def note_text(week: Week, locale: str) -> str:
    """The "no answers yet" note: what to do, and the orders that are waiting."""
    period = week_period(week.day)
    last = period.end - timedelta(days=1)
    orders = tn(locale, "orders", week.orders)
    if week.waiting:
        tail = t(locale, "weekly_waiting", orders=orders, waiting=week.waiting)
    else:
        tail = t(locale, "weekly_none_waiting", orders=orders)
    return t(locale, "weekly_note", days=f"{period.start:%d.%m.%Y}–{last:%d.%m.%Y}", tail=tail)


# The week's deliveries so far, the owners' remembered languages, the owners noted.
_Looked = tuple[dict[int, ReportDelivery], dict[int, str], set[int]]


def week_period(week: date) -> Period:
    """The 7 whole days before the firing's day."""
    return Period(week - timedelta(days=WEEK_DAYS), week)


def retry_delay(attempts: int, error: SendError) -> timedelta:
    delay: timedelta = min(FIRST_RETRY * (1 << min(max(attempts - 1, 0), 16)), LONGEST_RETRY)
    if isinstance(error, RetryAfter):
        return max(delay, timedelta(seconds=error.seconds))
    if isinstance(error, Outage):
        return max(delay, timedelta(seconds=Outage.PAUSE))
    return delay


@dataclass(frozen=True, slots=True)
class Outcome:
    week: date | None = None
    sent: tuple[int, ...] = ()
    retrying: tuple[int, ...] = ()
    failed: tuple[int, ...] = ()


@dataclass
class WeeklyReports:
    sessions: async_sessionmaker[AsyncSession]
    survey: Survey
    sender: ReportSender
    trigger: CronTrigger
    owners: frozenset[int]
    clock: Callable[[], datetime]
    default_locale: str
    languages: Mapping[int, str]  # owners' Telegram languages, as last seen
    lease: timedelta
    build: BundleBuilder  # in the bot: reports.worker.ReportWorker, another process

    async def deliver(self) -> Outcome:
        """Send the latest week's report to every owner who has not had it. Safe to call
        any time, as often as wanted, from any number of processes."""
        fired = latest_firing(self.trigger, self.clock())
        if fired is None or not self.owners:
            return Outcome()
        day = fired.astimezone(self.trigger.timezone).date()
        rows, remembered, noted = await self._look(day)
        week: Week | None = None  # looked at once there is an owner to send to
        results: dict[str, list[int]] = {"sent": [], "retrying": [], "failed": []}
        bundles: dict[str, ReportBundle] = {}
        for owner in sorted(self.owners):
            row = rows.get(owner)
            if row is not None and row.status in deliveries.SETTLED:
                continue
            week = week or await self._week(day)
            content = week.content
            if content is Content.NOTE and owner in noted:
                content = Content.NO_ANSWERS
            locale = self.languages.get(owner) or remembered.get(owner) or self._fallback
            # Claimed one at a time, just before sending: the lease covers one owner.
            claim = await self._claim(owner, day, row, locale)
            if claim is None:
                continue
            if content in (Content.BEFORE_FIRST_ORDER, Content.NO_ANSWERS):
                await self._nothing(claim, content)
            elif content is Content.NOTE:
                results[await self._note(claim, week, locale)].append(owner)
            else:
                results[await self._deliver_one(claim, locale, bundles)].append(owner)
        return Outcome(day, *(tuple(results[key]) for key in ("sent", "retrying", "failed")))

    @property
    def _fallback(self) -> str:
        """An owner who never wrote to the bot reads the survey's language."""
        default = self.survey.default_locale
        return default if language(default) == default else self.default_locale

    async def _look(self, week: date) -> _Looked:
        async with self.sessions.begin() as session:
            reason = f"superseded by the report of {week}"
            stale = self.clock() - self.lease
            if given_up := await deliveries.supersede(session, week, stale, reason):
                log.warning("weekly report: %d unfinished older deliveries given up", given_up)
            rows = await deliveries.deliveries_of(session, week)
            remembered = await deliveries.last_locales(session, self.owners)
            return rows, remembered, await deliveries.noted_owners(session, self.owners)

    async def _week(self, day: date) -> Week:
        period, survey = week_period(day), self.survey.id
        async with self.sessions() as session:
            if await answers.any_answered(session, survey, period.start, period.end):
                return Week(day, Content.REPORT)
            first = await orders.first_registered(session, survey)
            if first is None or first >= datetime.combine(period.end, time(), UTC):
                return Week(day, Content.BEFORE_FIRST_ORDER)
            if await answers.any_answered(session, survey):
                return Week(day, Content.NO_ANSWERS)
            waiting, _ = await orders.awaiting_links(session, self.clock())
            return Week(day, Content.NOTE, await orders.count_orders(session, survey), waiting)

    async def _nothing(self, claim: Claim, content: Content) -> None:
        async with self.sessions.begin() as session:
            await deliveries.record_empty(session, claim, content.value)
        log.info("weekly report of %s to owner %s: %s", claim.week, claim.owner_id, content)

    async def _note(self, claim: Claim, week: Week, locale: str) -> str:
        try:
            await self.sender.send_text(claim.owner_id, note_text(week, locale))
        except SendError as error:
            return await self._not_sent(claim, error)
        async with self.sessions.begin() as session:
            await deliveries.record_noted(session, claim, self.clock(), locale)
        log.info("weekly: no answers yet, the note went to owner %s", claim.owner_id)
        return "sent"

    async def _claim(
        self, owner: int, week: date, row: ReportDelivery | None, locale: str
    ) -> Claim | None:
        now = self.clock()
        async with self.sessions.begin() as session:
            if row is None:
                return await deliveries.claim_new(session, owner, week, now, locale)
            return await deliveries.claim_again(session, row, now, now - self.lease)

    async def _deliver_one(
        self, claim: Claim, locale: str, bundles: dict[str, ReportBundle]
    ) -> str:
        try:
            if locale not in bundles:
                period = week_period(claim.week)
                bundle = await self.build(period, self.clock(), None, locale)
                bundles[locale] = await self._with_unknown_sends(bundle, period, locale)
            await self._send(claim, bundles[locale])
        except SendError as error:
            return await self._not_sent(claim, error)
        except WorkerFailed as error:  # logged, and retried later
            log.error("weekly report for owner %s was not drawn: %s", claim.owner_id, error)
            return await self._not_sent(claim, SendError(error.reason))
        except Exception as error:  # a bug or the database: logged, and retried later
            log.exception("weekly report for owner %s could not be built", claim.owner_id)
            return await self._not_sent(claim, SendError(f"{type(error).__name__}: {error}"))
        async with self.sessions.begin() as session:
            await deliveries.record_sent(session, claim, self.clock(), locale)
        log.info("weekly report of %s sent to owner %s", claim.week, claim.owner_id)
        return "sent"

    async def _with_unknown_sends(
        self, bundle: ReportBundle, period: Period, locale: str
    ) -> ReportBundle:
        """The summary says how many questions of the week may not have arrived."""
        since = datetime.combine(period.start, time(), UTC)
        until = datetime.combine(period.end, time(), UTC)
        async with self.sessions() as session:
            unknown = await dispatches.count_unknown(session, since, until)
        if not unknown:
            return bundle
        return replace(bundle, summary=f"{bundle.summary}\n\n{unknown_sends(unknown, locale)}")

    async def _send(self, claim: Claim, bundle: ReportBundle) -> None:
        for part in bundle.parts:
            if part < claim.parts:
                continue  # went out in an earlier attempt
            await self.sender.send_part(claim.owner_id, bundle, part)
            if part < bundle.parts[-1]:
                async with self.sessions.begin() as session:
                    await deliveries.record_part(session, claim, part + 1)

    async def _not_sent(self, claim: Claim, error: SendError) -> str:
        final = isinstance(error, (Unreachable, Rejected)) or claim.attempts >= MAX_ATTEMPTS
        async with self.sessions.begin() as session:
            if final:
                reason = error.reason
                if not isinstance(error, (Unreachable, Rejected)):
                    reason = f"gave up after {claim.attempts} attempts: {reason}"
                await deliveries.record_failed(session, claim, reason)
            else:
                retry_at = self.clock() + retry_delay(claim.attempts, error)
                await deliveries.record_retry(session, claim, retry_at, error.reason)
        log.warning(
            "weekly report of %s to owner %s %s: %s", claim.week, claim.owner_id,
            "failed" if final else "will be retried", error.reason,
        )  # fmt: skip
        return "failed" if final else "retrying"
