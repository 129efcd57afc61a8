"""The send rate (CJM_SEND_RATE) and the global pause after a 429."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class RateLimiter(Protocol):
    async def acquire(self, wait: bool = True) -> bool:
        """Wait for a send slot; False while sending is paused by flood control. With
        `wait` false, a slot now or none (False)."""
        ...

    def pause(self, seconds: float) -> None: ...

    @property
    def paused_for(self) -> float: ...


class LocalRateLimiter:
    """A token bucket for one process; `rate <= 0` disables limiting (benchmarks)."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._tokens = self.burst
        self._stamp = time.monotonic()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - time.monotonic())

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def acquire(self, wait: bool = True) -> bool:
        if self.paused_for > 0:
            return False
        if self.rate <= 0:
            return True
        if not wait:  # no await until the token is taken: no other task can take it
            return self._take()
        async with self._lock:
            while True:
                if self._take():
                    return self.paused_for == 0
                await asyncio.sleep((1 - self._tokens) / self.rate)

    def _take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
