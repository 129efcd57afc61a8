"""The outbox drain: sends due waves, reminds once, expires, and never sends a wave twice.

Each window of waves is claimed (committed as `sending`), sent with no transaction open,
then settled in one commit. A process killed mid-window leaves at most that window in
`sending`; after the lease those become *unknown* (maybe delivered, never resent), and
everything not yet claimed is still `pending` for the next drain.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import answers, dispatches
from storage.dispatches import FollowUp, Target
from storage.models import CustomerStatus, DispatchStatus
from surveys.messenger import (
    Ask,
    MaybeDelivered,
    Messenger,
    NotDelivered,
    Outage,
    Rejected,
    RetryAfter,
    Unreachable,
)
from surveys.model import Survey
from surveys.open_messages import OpenMessages
from surveys.planner import first_question, short_duration
from surveys.ratelimit import RateLimiter
from surveys.timing import SendingRules

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
ERROR_LENGTH = 500  # dispatches.error is VARCHAR(500); PostgreSQL rejects longer reasons
Clock = Callable[[], datetime]


def backoff(attempt: int) -> timedelta:
    return timedelta(seconds=min(600, 5 * 2**attempt))


@dataclass
class DrainReport:
    outcomes: Counter[str] = field(default_factory=Counter)

    def count(self, outcome: str, n: int = 1) -> None:
        self.outcomes[outcome] += n

    @property
    def sent(self) -> int:
        return self.outcomes["sent"]


@dataclass
class _Settlement:
    sent: list[dict[str, Any]] = field(default_factory=list)
    requeued: list[dict[str, Any]] = field(default_factory=list)
    closed: list[dict[str, Any]] = field(default_factory=list)
    unreachable: set[int] = field(default_factory=set)


class WaveDispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        survey: Survey,
        messenger: Messenger,
        limiter: RateLimiter,
        rules: SendingRules,
        clock: Clock,
        default_locale: str,
        window: int = 64,
        lease: timedelta = timedelta(minutes=2),
        on_drained: Callable[[DrainReport], None] | None = None,
        open_messages: OpenMessages | None = None,
    ) -> None:
        self.sessions = sessions
        self.survey = survey
        self.messenger = messenger
        self.limiter = limiter
        self.rules = rules
        self.clock = clock
        self.default_locale = default_locale
        self.window = window
        self.lease = lease
        self.on_drained = on_drained  # the composition root counts outcomes for /metrics
        self.open_messages = open_messages or OpenMessages()
        self._lock = asyncio.Lock()

    async def drain(self, max_windows: int | None = None) -> DrainReport:
        """Send everything due now; called by the scheduler's interval job."""
        report = DrainReport()
        async with self._lock:  # the interval job must not overlap itself
            async with self.sessions.begin() as session:
                stale = await dispatches.expire_stale_claims(session, self.clock(), self.lease)
            if stale:
                log.warning(
                    "%d waves were in flight when a process stopped: marked unknown", stale
                )
                report.count("unknown", stale)
            await self._follow_ups(report)
            windows = 0
            while self.limiter.paused_for == 0 and (max_windows is None or windows < max_windows):
                windows += 1
                if not await self._drain_window(report):
                    break
        if self.on_drained is not None:
            self.on_drained(report)
        return report

    async def _drain_window(self, report: DrainReport) -> bool:
        now = self.clock()
        async with self.sessions.begin() as session:
            targets = await dispatches.claim_due(session, now, self.window)
        if not targets:
            return False
        settlement = _Settlement()
        sends = self._plan_window(targets, now, settlement, report)
        await asyncio.gather(*(self._send(t, now, settlement, report) for t in sends))
        async with self.sessions.begin() as session:
            await self._settle(session, settlement, now, report)
        return True

    def _plan_window(
        self, targets: list[Target], now: datetime, out: _Settlement, report: DrainReport
    ) -> list[Target]:
        """Cancel, defer or keep each claimed wave; quiet hours and one wave a day hold at
        send time too, because a wave can be sent later than planned (downtime, 429)."""
        busy: dict[int, set[date]] = {}
        sends = []
        for target in targets:
            refusal = self._refusal(target, now)
            if refusal is not None:
                status, why = refusal
                out.closed.append(_closed(target, status, why, now))
                report.count(status.value)
                continue
            days = busy.setdefault(target.customer_id or 0, set())
            if target.last_wave_at is not None:
                days.add(self.rules.local_day(target.last_wave_at))
            slot = self.rules.next_slot(now, days)
            if slot > now:
                out.requeued.append(_requeue(target, slot, target.attempts, "deferred"))
                report.count("deferred")
                continue
            days.add(self.rules.local_day(now))
            sends.append(target)
        return sends

    def _refusal(self, target: Target, now: datetime) -> tuple[DispatchStatus, str] | None:
        """Why this wave must not go out at all, if it must not."""
        if target.customer_status != CustomerStatus.ACTIVE or target.chat_id is None:
            return DispatchStatus.CANCELLED, "customer not active"
        wave = self.survey.wave(target.wave_id)
        if wave is None:
            return DispatchStatus.FAILED, "wave not in survey"
        if target.due_at is not None and now - target.due_at > wave.expire_after:
            # After a long outage "how was your visit today?" would be asked days late.
            late = short_duration(wave.expire_after)
            return DispatchStatus.SKIPPED, f"too late to ask: overdue by more than {late}"
        return None

    async def _send(
        self, target: Target, now: datetime, out: _Settlement, report: DrainReport
    ) -> None:
        wave = self.survey.wave(target.wave_id)
        assert wave is not None and target.chat_id is not None
        if not await self.limiter.acquire():
            out.requeued.append(_requeue(target, now, target.attempts, None))
            report.count("requeued")
            return
        question = first_question(wave)
        ask = Ask(
            target.chat_id, target.locale or self.default_locale, target.id, self.survey,
            wave, question, intro=True,
        )  # fmt: skip
        try:
            message_id = await self.messenger.ask(ask)
        except RetryAfter as error:
            self.limiter.pause(error.seconds)
            out.requeued.append(_requeue(target, now, target.attempts, None))
            report.count("rate_limited")
        except Outage as error:
            self.limiter.pause(Outage.PAUSE)
            out.requeued.append(_requeue(target, now, target.attempts, error.reason))
            report.count("outage")
            log.error("sending paused for %gs: %s", Outage.PAUSE, error.reason)
        except NotDelivered as error:
            self._retry_or_fail(target, now, error.reason, out, report)
        except MaybeDelivered as error:
            out.closed.append(_closed(target, DispatchStatus.UNKNOWN, error.reason, now))
            report.count("unknown")
            log.warning("wave %s may or may not have arrived: %s", target.id, error.reason)
        except Unreachable as error:
            out.closed.append(_closed(target, DispatchStatus.CANCELLED, error.reason, now))
            if target.customer_id is not None:
                out.unreachable.add(target.customer_id)
            report.count("unreachable")
        except Rejected as error:
            out.closed.append(_closed(target, DispatchStatus.FAILED, error.reason, now))
            report.count("failed")
            log.warning("wave %s dead-lettered: %s", target.id, error.reason)
        else:
            due = now + (wave.remind_after or wave.expire_after)
            out.sent.append(
                {"b_id": target.id, "b_customer": target.customer_id, "b_now": now,
                 "b_message": message_id, "b_question": question.id, "b_due": due}
            )  # fmt: skip
            report.count("sent")

    def _retry_or_fail(
        self, target: Target, now: datetime, reason: str, out: _Settlement, report: DrainReport
    ) -> None:
        attempts = target.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            why = f"gave up after {attempts} attempts: {reason}"
            out.closed.append(_closed(target, DispatchStatus.FAILED, why, now))
            report.count("failed")
            return
        out.requeued.append(_requeue(target, now + backoff(attempts), attempts, reason))
        report.count("retry")

    async def _settle(
        self, session: AsyncSession, out: _Settlement, now: datetime, report: DrainReport
    ) -> None:
        superseded = await dispatches.mark_sent(session, out.sent, now)
        if superseded:
            report.count("expired", superseded)
        await dispatches.requeue(session, out.requeued)
        await dispatches.close(session, out.closed)
        for customer_id in out.unreachable:
            await dispatches.mark_unreachable(session, customer_id, now)

    async def _follow_ups(self, report: DrainReport) -> None:
        now = self.clock()
        async with self.sessions.begin() as session:
            await self.open_messages.flush(session)
            due = await dispatches.due_follow_ups(session, now, 500)
            reminders = [f for f in due if await self._schedule_follow_up(session, f, now, report)]
        for follow_up in reminders:
            await self._remind(follow_up, report)

    async def _schedule_follow_up(
        self, session: AsyncSession, item: FollowUp, now: datetime, report: DrainReport
    ) -> bool:
        """Expire, or book the reminder (before sending: a reminder goes out at most once)."""
        wave = self.survey.wave(item.wave_id)
        sent_at = item.sent_at or now
        expires = sent_at + (wave.expire_after if wave else timedelta(0))
        if wave is None or now >= expires or item.reminded_at is not None:
            await dispatches.expire(session, item.id, now)
            report.count("expired")
            return False
        slot = self.rules.after_quiet(now)
        if slot > now:
            await dispatches.schedule_follow_up(session, item.id, min(slot, expires), None)
            return False
        await dispatches.schedule_follow_up(session, item.id, expires, reminded_at=now)
        return item.chat_id is not None and item.current_question is not None

    async def _remind(self, item: FollowUp, report: DrainReport) -> None:
        wave = self.survey.wave(item.wave_id)
        question = (
            next((q for q in wave.questions if q.id == item.current_question), None)
            if wave
            else None
        )
        if wave is None or question is None or item.chat_id is None:
            return
        if not await self.limiter.acquire():
            return  # the reminder is dropped rather than risk a flood; the wave still expires
        ask = Ask(
            item.chat_id, item.locale or self.default_locale, item.id, self.survey, wave,
            question, reminder=True, replaces=item.message_id,
        )  # fmt: skip
        try:
            message_id = await self.messenger.ask(ask)
            report.count("reminded")
            async with self.sessions.begin() as session:
                await answers.set_message(session, item.id, message_id)
        except RetryAfter as error:
            self.limiter.pause(error.seconds)
        except Outage as error:
            self.limiter.pause(Outage.PAUSE)
            log.error("sending paused for %gs: %s", Outage.PAUSE, error.reason)
        except Unreachable:
            if item.customer_id is not None:
                async with self.sessions.begin() as session:
                    await dispatches.mark_unreachable(session, item.customer_id, self.clock())
            report.count("unreachable")
        except (NotDelivered, MaybeDelivered, Rejected) as error:
            log.warning("reminder for wave %s not sent: %s", item.id, error.reason)


def _requeue(target: Target, due: datetime, attempts: int, error: str | None) -> dict[str, Any]:
    reason = error[:ERROR_LENGTH] if error else error
    return {"b_id": target.id, "b_due": due, "b_attempts": attempts, "b_error": reason}


def _closed(target: Target, status: DispatchStatus, error: str, now: datetime) -> dict[str, Any]:
    return {"b_id": target.id, "b_status": status, "b_error": error[:ERROR_LENGTH], "b_now": now}
