"""The send rate shared by every process of one bot, through Redis (CJM_REDIS_URL).

Telegram's limit is per bot, not per process: N `cjm run` processes draining one outbox
must together stay under CJM_SEND_RATE. Each send slot is taken atomically in Redis with
GCRA (the generic cell rate algorithm — a token bucket held as one timestamp, the
"theoretical arrival time"), on the Redis server's clock so that processes on different
machines agree. A 429's pause is shared the same way: one process hit by flood control
stops them all.

It implements surveys.ratelimit.RateLimiter.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# KEYS: tat, pause. ARGV: interval µs, tolerance µs (burst - 1 intervals).
# Returns {1, 0} for a slot, {0, wait µs} to wait, {-1, pause µs left} while paused.
_ACQUIRE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then return {-1, paused - now} end
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat - now > tolerance then return {0, tat - now - tolerance} end
local ttl = math.ceil((tat + interval - now) / 1000) + 1000
redis.call('SET', KEYS[1], tat + interval, 'PX', ttl)
return {1, 0}
"""

# KEYS: pause. ARGV: seconds. Extends the shared pause, never shortens it.
_PAUSE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local until_ = now + math.floor(tonumber(ARGV[1]) * 1000000)
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > current then
  redis.call('SET', KEYS[1], until_, 'PX', math.ceil((until_ - now) / 1000) + 1000)
end
return until_
"""


REDIS_RETRY = 5.0  # seconds on the local limiter before Redis is tried again


class Fallback(Protocol):
    """This process's own limiter (surveys.ratelimit.LocalRateLimiter)."""

    async def acquire(self, wait: bool = True) -> bool: ...


class SharedRateLimiter:
    """`rate` sends per second across every process using the same Redis `prefix`;
    `rate <= 0` disables the limit (the shared 429 pause still holds).

    Redis unreachable: each process goes on with `fallback`, a local limiter at a rate
    safe however many processes there are, and tries Redis again after REDIS_RETRY —
    waves are sent more slowly, never left unsettled."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        rate: float,
        burst: float | None = None,
        fallback: Fallback | None = None,
    ) -> None:
        self.redis = redis
        self.fallback = fallback
        self._redis_down_until = 0.0
        self._back_until = 0.0  # back on Redis: this process's own limit holds too until then
        self.rate = rate
        burst = burst if burst is not None else max(1.0, rate)
        self.interval_us = int(1_000_000 / rate) if rate > 0 else 0
        self.tolerance_us = int(self.interval_us * (burst - 1))
        self.keys = (f"{prefix}:send:tat", f"{prefix}:send:pause")
        self._acquire: Any = redis.register_script(_ACQUIRE)
        self._pause: Any = redis.register_script(_PAUSE)
        self._paused_until = 0.0  # this process's view, for paused_for
        self._pending: set[asyncio.Task[None]] = set()
        self._owns_client = False

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - time.monotonic())

    def pause(self, seconds: float) -> None:
        # The protocol's pause is synchronous (the local limiter needs no I/O): this
        # process stops at once, the others learn of it on their next acquire.
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
        task = asyncio.get_running_loop().create_task(self._share_pause(seconds))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _share_pause(self, seconds: float) -> None:
        try:
            await self._pause(keys=[self.keys[1]], args=[seconds])
        except Exception:  # Redis down: this process still pauses; others may hit 429 too
            log.exception("could not share a %.1f s flood-control pause through Redis", seconds)

    async def acquire(self, wait: bool = True) -> bool:
        if self.paused_for > 0:
            return False
        if self.fallback is not None and time.monotonic() < self._redis_down_until:
            return await self.fallback.acquire(wait) and self.paused_for == 0
        try:
            shared = await self._shared_acquire(wait)
        except (RedisError, OSError) as error:
            if self.fallback is None:
                raise
            if self._redis_down_until == 0.0:
                log.warning("Redis unreachable (%s): this process's own send limit for now", error)
            self._redis_down_until = time.monotonic() + REDIS_RETRY
            return await self.fallback.acquire(wait) and self.paused_for == 0
        if shared and self.fallback is not None and time.monotonic() < self._back_until:
            # Back on Redis, but the other processes may still be on their own limits
            # until their next try: this one keeps to its own too until then, or their
            # sum and the shared rate would go out together.
            return await self.fallback.acquire(wait) and self.paused_for == 0
        return shared

    async def _shared_acquire(self, wait: bool) -> bool:
        while True:
            # With the limit off the interval is 0: the script then only checks the pause.
            status, micros = await self._acquire(
                keys=list(self.keys), args=[self.interval_us, self.tolerance_us]
            )
            if status == 1:
                if self._redis_down_until:
                    log.info("Redis reachable again: the send rate is shared again")
                    self._redis_down_until = 0.0
                    self._back_until = time.monotonic() + REDIS_RETRY
                return True
            if status == -1:
                self._paused_until = time.monotonic() + int(micros) / 1_000_000
                return False
            if not wait:
                return False
            await asyncio.sleep(int(micros) / 1_000_000)

    @classmethod
    def from_url(
        cls,
        url: str,
        prefix: str,
        rate: float,
        fallback: Fallback | None = None,
        burst: float | None = None,
    ) -> SharedRateLimiter:
        """A limiter that owns its Redis client (closed by `close`)."""
        limiter = cls(Redis.from_url(url), prefix, rate, burst, fallback)
        limiter._owns_client = True
        return limiter

    async def close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._owns_client:
            await self.redis.aclose()
