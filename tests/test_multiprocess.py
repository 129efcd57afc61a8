"""Several processes, one backlog (SPEC §5, issue 4): with PostgreSQL and Redis, N
processes drain one outbox together — every wave sent by exactly one of them, the send
rate shared so that together they stay under the limit, and the work of a process
killed mid-drain finished by the others. Real child processes, real PostgreSQL
(CJM_TEST_POSTGRES_URL), real Redis (CJM_TEST_REDIS_URL), the fake Bot API over HTTP."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from storage.db import make_engine
from storage.models import Customer, Dispatch, Order
from tests.support.databases import drop_postgres_database, postgres_base_url, postgres_database
from tests.support.fake_bot_api import FakeBotAPI

ROOT = Path(__file__).resolve().parents[1]
CHAT_BASE = 500_000


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A database of its own: the child processes connect to it by URL."""
    base = postgres_base_url()
    if base is None:
        pytest.skip("multi-process tests need CJM_TEST_POSTGRES_URL")
    url = await postgres_database(base)
    yield url
    await drop_postgres_database(base, url)


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(bot_id=42) as server:
        yield server


async def seed_backlog(url: str, waves: int) -> None:
    """`waves` customers, each with one wave due now."""
    now = datetime.now(UTC)
    ids = range(1, waves + 1)
    engine = make_engine(url)
    async with engine.begin() as connection:
        await connection.execute(insert(Customer), [
            {"id": i, "ref": f"c{i}", "tg_user_id": CHAT_BASE + i, "chat_id": CHAT_BASE + i,
             "locale": "en", "status": "active", "consented_at": now, "created_at": now}
            for i in ids
        ])  # fmt: skip
        await connection.execute(insert(Order), [
            {"id": i, "external_id": f"o{i}", "customer_id": i, "survey_id": "cafe",
             "source": "test", "journey": "scheduled", "purchased_at": now, "created_at": now}
            for i in ids
        ])  # fmt: skip
        await connection.execute(insert(Dispatch), [
            {"order_id": i, "customer_id": i, "survey_id": "cafe", "wave_id": "after_purchase",
             "status": "pending", "due_at": now - timedelta(seconds=i % 60), "attempts": 0,
             "progress": {}, "created_at": now}
            for i in ids
        ])  # fmt: skip
    await engine.dispose()


async def statuses(url: str) -> Counter[str]:
    engine = make_engine(url)
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(Dispatch.status, func.count()).group_by(Dispatch.status)
        )
        result = Counter({str(status): int(n) for status, n in rows})
    await engine.dispose()
    return result


async def start(url: str, api: FakeBotAPI, redis: str, prefix: str, **options: Any) -> Any:
    flags = [f"--{key}={value}" for key, value in options.items()]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.dispatch_process", "--database", url,
        "--api", api.url, "--redis", redis, "--prefix", prefix, *flags,
        cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
    assert line.strip() == b"ready", line + (await process.stderr.read())
    return process


async def go(processes: list[Any]) -> None:
    """Started one by one (imports take seconds), they drain together."""
    for process in processes:
        process.stdin.write(b"go\n")
        await process.stdin.drain()


async def finish(process: Any) -> dict[str, int]:
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()[-3000:]
    return dict(json.loads(out.decode().strip().splitlines()[-1]))


def sends(api: FakeBotAPI) -> list[tuple[float, int]]:
    """(time, chat) of every question delivered, in order."""
    return sorted(
        (call.at, int(call.params["chat_id"])) for call in api.calls_of("sendMessage") if call.ok
    )


def most_in_one_second(times: list[float]) -> int:
    best, first = 0, 0
    for last, moment in enumerate(times):
        while moment - times[first] >= 1.0:
            first += 1
        best = max(best, last - first + 1)
    return best


async def test_three_processes_send_each_wave_once_within_one_rate(
    postgres_url: str, api: FakeBotAPI, redis_url: str
) -> None:
    waves, rate, window = 240, 60, 8
    await seed_backlog(postgres_url, waves)
    prefix = f"cjm-test-{uuid.uuid4().hex[:8]}"
    processes = [
        await start(postgres_url, api, redis_url, prefix, rate=rate, window=window)
        for _ in range(3)
    ]
    await go(processes)
    results = [await finish(process) for process in processes]

    delivered = sends(api)
    chats = Counter(chat for _, chat in delivered)
    assert len(chats) == waves and set(chats.values()) == {1}  # each exactly once
    assert sum(result.get("sent", 0) for result in results) == waves
    assert all(result.get("sent", 0) > 0 for result in results)  # the work was shared
    assert await statuses(postgres_url) == Counter({"sent": waves})
    # One shared GCRA bucket (burst = rate): at most burst + rate in any second, and the
    # whole backlog takes at least (waves − burst) / rate seconds. Three unshared limits
    # would allow three times as much. The times are when the fake API received the sends:
    # a loaded machine may hold back a window granted in one second into the next, so
    # each process's window in flight is allowed on top.
    times = [at for at, _ in delivered]
    assert most_in_one_second(times) <= 2 * rate + 3 * window
    assert times[-1] - times[0] >= (waves - rate) / rate * 0.95


async def test_a_killed_process_leaves_nothing_undone_and_nothing_twice(
    postgres_url: str, api: FakeBotAPI, redis_url: str
) -> None:
    waves, window = 300, 8
    await seed_backlog(postgres_url, waves)
    prefix = f"cjm-test-{uuid.uuid4().hex[:8]}"
    processes = [
        await start(postgres_url, api, redis_url, prefix, rate=50, window=window, lease=1)
        for _ in range(3)
    ]
    await go(processes)
    await api.wait_for("sendMessage", count=40, timeout=60)
    processes[0].send_signal(signal.SIGKILL)
    await processes[0].wait()
    results = [await finish(process) for process in processes[1:]]

    chats = Counter(chat for _, chat in sends(api))
    assert set(chats.values()) == {1}  # nothing sent twice
    final = await statuses(postgres_url)
    assert final["pending"] == final["sending"] == 0
    assert final["sent"] + final["unknown"] == waves
    # Only the killed process's claims in flight became unknown (never resent): one
    # window at most, each sent once or not at all.
    assert final["unknown"] <= window
    assert sum(r.get("unknown", 0) for r in results) == final["unknown"]
    assert len(chats) >= final["sent"]
