"""Only one process polls Telegram: the holder of the poller lease (storage.poller_lease).

Telegram allows one getUpdates consumer per bot token; a second one gets 409 Conflict and
the updates are split between them. So every `cjm run` in polling mode keeps trying to
take the lease; the one that has it polls and renews it every third of CJM_POLL_LEASE,
the others stand by (the outbox, the scheduler and the HTTP server run in all of them).
A holder that stops releases the lease, so a standby polls within seconds; one that dies
keeps it until it expires. A holder that cannot renew (the database is down) stops
polling before its lease can have expired, so that we never run two pollers ourselves.

Expiry is judged by each process's wall clock: the hosts' clocks must agree to well
within the margin (NTP does), as for the outbox's claims.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.poller_lease import Lease, release, take

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
STANDBY_RETRY = 5.0  # seconds between a standby's tries: a released lease is taken this soon
RELEASE_TIMEOUT = 2.0  # seconds shutdown waits for the release before leaving it to expire


def utc_now() -> datetime:
    return datetime.now(UTC)


def process_id() -> str:
    """host:pid:random: names the process in logs and `cjm status`; the random part tells
    a restarted process from its predecessor with the same pid (a container's pid 1)."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{secrets.token_hex(3)}"


class PollLease:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bot_id: int,
        ttl: timedelta,
        *,
        bot_name: str = "the bot",
        holder: str | None = None,
        clock: Clock = utc_now,
        on_change: Callable[[bool], None] = lambda polling: None,
    ) -> None:
        self.sessions = sessions
        self.bot_id = bot_id
        self.ttl = ttl
        self.bot_name = bot_name
        self.holder = holder or process_id()
        self.clock = clock
        self.on_change = on_change
        self.other: Lease | None = None  # the holder while this process stands by
        self.problem: str | None = None  # why the last try failed (the database)
        self._held = asyncio.Event()
        self._lost = asyncio.Event()
        self._lost.set()
        self._expiry: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    # -- what the poller and the health check ask -------------------------------------
    @property
    def polling(self) -> bool:
        return self._held.is_set()

    async def wait_held(self) -> None:
        await self._held.wait()

    async def wait_lost(self) -> None:
        await self._lost.wait()

    # -- the keeper ------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._keep(), name="poller lease")

    async def close(self) -> None:
        """Stops trying and releases the lease (a standby polls at its next try)."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        self._drop()
        try:  # also when not held: a try cut off by its timeout may have taken it
            async with asyncio.timeout(RELEASE_TIMEOUT), self.sessions.begin() as session:
                released = await release(session, self.bot_id, self.holder)
        except Exception as error:  # whatever the driver raises: it expires by itself
            log.warning(
                "Could not release the poller lease (%s): another process polls Telegram "
                "once it expires, within %s", _first_line(error), self.ttl,
            )  # fmt: skip
            return
        if released:
            log.info("Released the poller lease: a standby process may poll Telegram now")

    async def _keep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            lease = await self._try()
            if lease is not None:
                self._seen(lease, started)
            await asyncio.sleep(self._pause(lease))

    async def _try(self) -> Lease | None:
        seconds = self.ttl.total_seconds() / 3  # a hung try must not eat the lease
        try:
            async with asyncio.timeout(seconds), self.sessions.begin() as session:
                lease = await take(session, self.bot_id, self.holder, self.clock(), self.ttl)
        except Exception as error:  # whatever the driver raises: try again soon
            self._failed(error)
            return None
        if self.problem is not None:
            log.info("The poller lease can be reached again")
            self.problem = None
        return lease

    def _seen(self, lease: Lease, started: float) -> None:
        if lease.holder != self.holder:
            if self.polling:
                log.warning("Lost the poller lease to %s: stopped polling", lease.holder)
            self._drop()
            if self.other is None or self.other.holder != lease.holder:
                log.info(
                    "Standing by: process %s polls Telegram for %s; this one takes over "
                    "when it stops (within %s if it dies)", lease.holder, self.bot_name,
                    self.ttl,
                )  # fmt: skip
            self.other = lease
            return
        # Held from when this try began: the holder stops before any clock can see it expire.
        deadline = started + self.ttl.total_seconds() * 5 / 6
        loop = asyncio.get_running_loop()
        if deadline <= loop.time():
            return  # the try took too long to count
        if not self.polling:
            log.info("Polling Telegram as %s (this process holds the poller lease)", self.bot_name)
        self.other = None
        self._hold(deadline)

    def _pause(self, lease: Lease | None) -> float:
        third = self.ttl.total_seconds() / 3
        if lease is None:
            return max(0.5, third / 3)  # the database failed: try again sooner
        if lease.holder == self.holder:
            return third
        return min(third, STANDBY_RETRY)

    def _failed(self, error: Exception) -> None:
        why = f"{type(error).__name__}: {_first_line(error)}"
        if self.problem is None:
            if self.polling:
                log.warning(
                    "Cannot renew the poller lease (%s); polling stops before it expires "
                    "unless the database answers again", why,
                )  # fmt: skip
            else:
                log.warning("Cannot take the poller lease (%s); trying again", why)
        self.problem = why

    def _hold(self, deadline: float) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry = asyncio.get_running_loop().call_at(deadline, self._expire)
        if not self.polling:
            self._lost.clear()
            self._held.set()
            self.on_change(True)

    def _expire(self) -> None:
        self._expiry = None
        log.warning(
            "The poller lease was not renewed in time (%s): stopped polling, so that "
            "another process can take over safely", self.problem or "the database is slow",
        )  # fmt: skip
        self._drop()

    def _drop(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if self.polling:
            self._held.clear()
            self._lost.set()
            self.on_change(False)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__
