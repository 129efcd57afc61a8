"""The outbox drain: sends due waves, reminds once, expires, and never sends a wave twice.

Claims are small: what the send rate allows within about CLAIM_SECONDS (committed as
`sending`). Each send takes a rate slot, records that its request starts
(`sending_at`, committed, batched with the others starting), is sent with no
transaction open, and its outcome is committed as soon as it is known (batched too). So a
process killed mid-window leaves *unknown* only the requests really in flight; a claimed
wave whose request never started goes back to pending after the lease, and everything
not yet claimed is still pending for the next drain.

A slot is taken only while the database keeps up, and a start recorded late (the
database stalled after the slot was taken) needs a fresh slot at once, or the wave goes
back to pending unattempted: sends held up together must not go out together, a burst
Telegram would answer with 429s. Nothing waits for the rate once its start is recorded.

`stop()` (SIGTERM) stops claiming, lets the requests in flight finish and record their
outcomes, and releases the claimed waves not yet started to pending at once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import statistics
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import answers, dispatches
from storage.db import transient_db_error
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
    Unavailable,
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
CLAIM_SECONDS = 2.0  # a claim holds what the send rate allows within this long
# Seconds before recording a batch of sends again: the sends were made, so their record
# waits out a database restart or failover rather than leave them unknown.
WRITE_RETRIES = (0.2, 1.0, 3.0, 5.0, 10.0)
OUTAGE_PAUSE = (1.0, 15.0)  # the Bot API unreachable: pause this long, doubling to the max
# A write of the ledger held longer than this (or than a few of its usual writes on a
# slow link) is a stalled database: a send slot taken before it is stale.
HELD = 0.25
Clock = Callable[[], datetime]
Jitter = Callable[[float], float]


def backoff(attempt: int) -> timedelta:
    return timedelta(seconds=min(600, 5 * 2**attempt))


def no_jitter(seconds: float) -> float:
    return seconds


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
    started: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.sent or self.requeued or self.closed or self.unreachable or self.started)


class _Ledger:
    """What a window's sends did, committed as it happens: one writer, one short
    transaction per batch of whatever accumulated while the previous one was written.
    `start` returns once the start of a send is committed."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settle: Callable[[AsyncSession, _Settlement], Any],
        now: datetime,
    ) -> None:
        self.sessions = sessions
        self.settle = settle
        self.now = now
        self.pending = _Settlement()
        self._started: list[asyncio.Future[None]] = []
        self._writer: asyncio.Task[None] | None = None
        self._writing_since: float | None = None  # the batch being written, if any
        self._written = asyncio.Event()  # set (and replaced) as each batch is done
        self._took: deque[float] = deque(maxlen=9)  # seconds of the last writes
        self.held_after = HELD  # a write held longer is a stall (updated as they go)

    @property
    def steady(self) -> bool:
        """Whether the database keeps up: no write held longer than `held_after`."""
        since = self._writing_since
        return since is None or time.monotonic() - since <= self.held_after

    async def caught_up(self) -> bool:
        """True once the database keeps up again."""
        while not self.steady:
            await self._written.wait()
        return True

    def add(self) -> _Settlement:
        """The batch to add outcomes to; call `kick` after."""
        return self.pending

    def kick(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def start(self, dispatch_id: int) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.started.append(dispatch_id)
        self._started.append(done)
        self.kick()
        await done

    async def _write(self) -> None:
        while self.pending:
            batch, self.pending = self.pending, _Settlement()
            waiting, self._started = self._started, []
            self._writing_since = began = time.monotonic()
            try:
                await self._commit(batch)
            except Exception as error:
                for future in waiting:
                    if not future.done():
                        future.set_exception(error)
                raise
            except BaseException:
                for future in waiting:
                    future.cancel()
                raise
            else:
                self._took.append(time.monotonic() - began)
                self.held_after = max(HELD, 3 * statistics.median(self._took))
            finally:
                self._writing_since = None
                self._written.set()
                self._written = asyncio.Event()
            for future in waiting:
                if not future.done():
                    future.set_result(None)

    async def _commit(self, batch: _Settlement) -> None:
        """One transaction; tried again after a transient database error (a locked
        SQLite file, a dropped connection): it was rolled back, so it can be repeated."""
        for delay in (*WRITE_RETRIES, None):
            try:
                async with self.sessions.begin() as session:
                    await dispatches.mark_started(session, batch.started, self.now)
                    await self.settle(session, batch)
            except Exception as error:
                # asyncpg's refused connect is a bare OSError, not a DBAPIError.
                if delay is None or not transient_db_error(error):
                    raise
                reason = getattr(error, "orig", None) or error
                log.warning("recording sends failed (%s): again in %gs", reason, delay)
                await asyncio.sleep(delay)
            else:
                return

    async def flush(self) -> None:
        """Until everything added is committed; raises what the writer met."""
        while self._writer is not None:
            writer = self._writer
            if writer.done():
                self._writer = None
                writer.result()  # raises the writer's error
                if self.pending:
                    self.kick()
                continue
            await asyncio.shield(writer)


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
        jitter: Jitter = no_jitter,
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
        self.jitter = jitter
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._outage_pause = OUTAGE_PAUSE[0]
        self.unavailable_since: datetime | None = None  # the Bot API unreachable since

    @property
    def claim_size(self) -> int:
        """What the send rate allows within CLAIM_SECONDS (the window without a limit)."""
        rate = float(getattr(self.limiter, "rate", 0) or 0)
        if rate <= 0:
            return self.window
        return max(1, min(self.window, math.ceil(rate * CLAIM_SECONDS)))

    async def stop(self, grace: float) -> bool:
        """Stop claiming; wait up to `grace` seconds for the drain under way to finish its
        requests in flight, record them and release the rest. True if it did."""
        self._stopping.set()
        try:
            async with asyncio.timeout(grace):
                async with self._lock:
                    return True
        except TimeoutError:
            log.warning("stopped with sends still in flight after %gs", grace)
            return False

    async def drain(self, max_windows: int | None = None) -> DrainReport:
        """Send everything due now; called by the scheduler's interval job."""
        report = DrainReport()
        if self._stopping.is_set():
            return report
        async with self._lock:  # the interval job must not overlap itself
            async with self.sessions.begin() as session:
                stale, released = await dispatches.expire_stale_claims(
                    session, self.clock(), self.lease
                )
            if stale:
                log.warning(
                    "%d waves were in flight when a process stopped: marked unknown", stale
                )
                report.count("unknown", stale)
            if released:
                log.info("%d waves claimed by a stopped process, never sent: pending", released)
                report.count("released", released)
            await self._follow_ups(report)
            windows = 0
            while (
                self.limiter.paused_for == 0
                and not self._stopping.is_set()
                and (max_windows is None or windows < max_windows)
            ):
                windows += 1
                if not await self._drain_window(report):
                    break
        if report.outcomes["held"]:
            log.info("%d sends held up by the database: back to pending", report.outcomes["held"])
        if self.on_drained is not None:
            self.on_drained(report)
        return report

    async def _drain_window(self, report: DrainReport) -> bool:
        now = self.clock()
        async with self.sessions.begin() as session:
            targets = await dispatches.claim_due(session, now, self.claim_size)
        if not targets:
            return False

        async def settle(session: AsyncSession, batch: _Settlement) -> None:
            await self._settle(session, batch, now, report)

        ledger = _Ledger(self.sessions, settle, now)
        sends = self._plan_window(targets, now, ledger.add(), report)
        ledger.kick()
        results = await asyncio.gather(
            *(self._send(t, now, ledger, report) for t in sends), return_exceptions=True
        )
        await ledger.flush()
        for result in results:
            if isinstance(result, BaseException):
                raise result
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

    async def _slot(self, ledger: _Ledger) -> float | None:
        """A send slot taken while the database keeps up, so that the start is recorded
        at once, and when; None while paused or once stopping (the wave is not started)."""
        while await self._acquire():
            if ledger.steady:
                return time.monotonic()
            # The database stalls: this slot would be stale by the time the start is
            # recorded. Given up; the next waits for the database, not only the rate.
            if not await self._unless_stopping(ledger.caught_up()):
                return None
        return None

    async def _acquire(self) -> bool:
        if float(getattr(self.limiter, "rate", 1) or 0) <= 0:  # no limit: nothing to wait for
            return not self._stopping.is_set() and await self.limiter.acquire()
        return await self._unless_stopping(self.limiter.acquire())

    async def _unless_stopping(self, waiting: Coroutine[Any, Any, bool]) -> bool:
        """What `waiting` returns, or False once stopping (and it is cancelled)."""
        if self._stopping.is_set():
            waiting.close()
            return False
        task = asyncio.ensure_future(waiting)
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not task.done():
                task.cancel()
        if task.cancelled() or not task.done():
            return False
        return task.result() and not self._stopping.is_set()

    async def _start(
        self, target: Target, now: datetime, ledger: _Ledger, report: DrainReport
    ) -> bool:
        """Take a slot and record the start: False if the wave is not to be sent now (it
        is back to pending, never attempted)."""
        granted = await self._slot(ledger)
        if granted is None:  # a stop, a pause
            ledger.add().requeued.append(_requeue(target, now, target.attempts, None))
            ledger.kick()
            report.count("requeued")
            return False
        await ledger.start(target.id)
        if time.monotonic() - granted <= ledger.held_after:
            return True
        if await self.limiter.acquire(wait=False):
            return True  # a fresh slot: it goes out at the rate after all
        # Its start was held by the database: sent now, it would go out with every send
        # held alike. Back in line, in its place.
        due = target.due_at or now
        ledger.add().requeued.append(_requeue(target, due, target.attempts, None))
        ledger.kick()
        report.count("held")
        return False

    async def _send(
        self, target: Target, now: datetime, ledger: _Ledger, report: DrainReport
    ) -> None:
        wave = self.survey.wave(target.wave_id)
        assert wave is not None and target.chat_id is not None
        if not await self._start(target, now, ledger, report):
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
            ledger.add().requeued.append(_requeue(target, now, target.attempts, None))
            report.count("rate_limited")
        except Outage as error:
            self.limiter.pause(Outage.PAUSE)
            ledger.add().requeued.append(_requeue(target, now, target.attempts, error.reason))
            report.count("outage")
            log.error("sending paused for %gs: %s", Outage.PAUSE, error.reason)
        except Unavailable as error:
            self._unavailable(error, now)
            ledger.add().requeued.append(_requeue(target, now, target.attempts, error.reason))
            report.count("unavailable")
        except NotDelivered as error:
            self._retry_or_fail(target, now, error.reason, ledger.add(), report)
        except MaybeDelivered as error:
            ledger.add().closed.append(_closed(target, DispatchStatus.UNKNOWN, error.reason, now))
            report.count("unknown")
            log.warning("wave %s may or may not have arrived: %s", target.id, error.reason)
        except Unreachable as error:
            out = ledger.add()
            out.closed.append(_closed(target, DispatchStatus.CANCELLED, error.reason, now))
            if target.customer_id is not None:
                out.unreachable.add(target.customer_id)
            report.count("unreachable")
        except Rejected as error:
            ledger.add().closed.append(_closed(target, DispatchStatus.FAILED, error.reason, now))
            report.count("failed")
            log.warning("wave %s dead-lettered: %s", target.id, error.reason)
        else:
            self._reachable()
            due = now + (wave.remind_after or wave.expire_after)
            ledger.add().sent.append(
                {"b_id": target.id, "b_customer": target.customer_id, "b_now": now,
                 "b_message": message_id, "b_question": question.id, "b_due": due}
            )  # fmt: skip
            report.count("sent")
        ledger.kick()

    def _unavailable(self, error: Unavailable, now: datetime) -> None:
        """The Bot API cannot be reached: every send pauses (growing pauses, jittered), no
        attempt is counted against a wave, and the waves go out when it is back."""
        if self.limiter.paused_for > 0:
            return  # already paused by another send of this window
        if self.unavailable_since is None:
            self.unavailable_since = now
        pause = self.jitter(self._outage_pause)
        self._outage_pause = min(OUTAGE_PAUSE[1], self._outage_pause * 2)
        self.limiter.pause(pause)
        log.error("the Bot API is unreachable (%s): sending paused for %.1fs", error.reason, pause)

    def _reachable(self) -> None:
        self._outage_pause = OUTAGE_PAUSE[0]
        if self.unavailable_since is not None:
            log.info("the Bot API is reachable again")
            self.unavailable_since = None

    async def _unbook(self, item: FollowUp) -> None:
        """The reminder surely did not go out: it is booked again by a later drain."""
        async with self.sessions.begin() as session:
            await dispatches.unbook_reminder(session, item.id, self.clock())

    def _retry_or_fail(
        self, target: Target, now: datetime, reason: str, out: _Settlement, report: DrainReport
    ) -> None:
        attempts = target.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            why = f"gave up after {attempts} attempts: {reason}"
            out.closed.append(_closed(target, DispatchStatus.FAILED, why, now))
            report.count("failed")
            return
        delay = timedelta(seconds=self.jitter(backoff(attempts).total_seconds()))
        out.requeued.append(_requeue(target, now + delay, attempts, reason))
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
            await self._unbook(item)  # sending is paused: the reminder waits, not lost
            return
        ask = Ask(
            item.chat_id, item.locale or self.default_locale, item.id, self.survey, wave,
            question, reminder=True, replaces=item.message_id,
        )  # fmt: skip
        try:
            message_id = await self.messenger.ask(ask)
            self._reachable()
            report.count("reminded")
            async with self.sessions.begin() as session:
                await answers.set_message(session, item.id, message_id)
        except RetryAfter as error:
            self.limiter.pause(error.seconds)
            await self._unbook(item)
        except Outage as error:
            self.limiter.pause(Outage.PAUSE)
            log.error("sending paused for %gs: %s", Outage.PAUSE, error.reason)
            await self._unbook(item)
        except Unavailable as error:
            self._unavailable(error, self.clock())
            await self._unbook(item)
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
