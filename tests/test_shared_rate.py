"""The send rate and the flood-control pause shared by processes through Redis
(storage.shared_rate), against a real Redis (CJM_TEST_REDIS_URL)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from storage import shared_rate
from storage.shared_rate import SharedRateLimiter
from surveys.ratelimit import LocalRateLimiter
from tests.support.tcp_proxy import TcpProxy, target_of


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def prefix() -> str:
    return f"cjm-test-{uuid.uuid4().hex[:8]}"


async def test_two_limiters_share_one_rate(redis: Redis, prefix: str) -> None:
    """20 slots at 50/s with a burst of 1, taken by two "processes" at once: the slots
    are spaced by the interval in Redis, so the 20th comes ≥ 19 intervals after the first
    (a lower bound: a slow machine only makes it later)."""
    a = SharedRateLimiter(redis, prefix, rate=50, burst=1)
    b = SharedRateLimiter(redis, prefix, rate=50, burst=1)
    stamps: list[float] = []

    async def take(limiter: SharedRateLimiter) -> None:
        assert await limiter.acquire()
        stamps.append(time.monotonic())

    await asyncio.gather(*(take(a if i % 2 else b) for i in range(20)))
    assert len(stamps) == 20
    assert max(stamps) - min(stamps) >= 19 * 0.02 * 0.95


async def test_a_pause_in_one_process_stops_the_others(redis: Redis, prefix: str) -> None:
    a = SharedRateLimiter(redis, prefix, rate=100)
    b = SharedRateLimiter(redis, prefix, rate=100)
    assert await b.acquire()
    a.pause(30)
    assert a.paused_for > 29
    assert not await a.acquire()
    await a.close()  # the pause has reached Redis
    assert not await b.acquire()
    assert 28 < b.paused_for <= 30
    other = SharedRateLimiter(redis, f"{prefix}-other-bot", rate=100)
    assert await other.acquire()  # another bot's limit is its own


async def test_limit_off_still_honours_the_pause(redis: Redis, prefix: str) -> None:
    unlimited = SharedRateLimiter(redis, prefix, rate=0)
    assert all([await unlimited.acquire() for _ in range(50)])
    pauser = SharedRateLimiter(redis, prefix, rate=0)
    pauser.pause(5)
    await pauser.close()
    assert not await unlimited.acquire()


async def test_a_slot_now_or_none_spends_the_burst_then_refuses(redis: Redis, prefix: str) -> None:
    """`acquire(wait=False)`: the dispatcher's fresh slot for a send its database held up.
    The burst is shared with the other process; beyond it, no slot and no wait (the next
    comes a second later at 1/s)."""
    a = SharedRateLimiter(redis, prefix, rate=1, burst=3)
    b = SharedRateLimiter(redis, prefix, rate=1, burst=3)
    taken = [await a.acquire(wait=False), await b.acquire(wait=False)]
    taken += [await a.acquire(wait=False), await b.acquire(wait=False)]
    assert taken == [True, True, True, False]
    local = LocalRateLimiter(rate=1, burst=2)
    assert [await local.acquire(wait=False) for _ in range(3)] == [True, True, False]


async def test_back_on_redis_a_process_keeps_to_its_own_limit_while_others_may_not_be(
    redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When Redis returns, the other processes still send on their own limits until their
    next try of Redis (REDIS_RETRY later at most): one already back keeps to its own limit
    as well until then, or the shared rate goes out on top of theirs (37/s at a rate of 25
    in bench.faults' redis-cut). After that, the shared rate alone."""
    monkeypatch.setattr(shared_rate, "REDIS_RETRY", 0.2)
    async with TcpProxy(*target_of(redis_url)) as proxy:
        own = LocalRateLimiter(rate=1, burst=2)
        limiter = SharedRateLimiter.from_url(
            proxy.url_for(redis_url), prefix, rate=100, burst=5, fallback=own
        )
        try:
            await proxy.cut()
            assert await limiter.acquire(wait=False)  # on its own limit: one of its two
            await proxy.restore()
            await asyncio.sleep(0.3)  # past REDIS_RETRY: the next slot is Redis's again
            assert [await limiter.acquire(wait=False) for _ in range(3)] == [True, False, False]
            await asyncio.sleep(0.3)  # every process has tried Redis again by now
            assert [await limiter.acquire(wait=False) for _ in range(3)] == [True, True, True]
        finally:
            await limiter.close()
