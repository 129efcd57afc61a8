"""Two `cjm run` processes in polling mode on one database (issue 11): an operator's
second deploy started before the first stopped, or a standby for availability. Only the
holder of the poller lease calls getUpdates (no 409 Conflict, each update handled once);
when it stops (SIGTERM) or dies (SIGKILL) the other takes over and the customer's next
tap is answered. Real processes, the fake Bot API over HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from storage.db import make_engine
from storage.models import Customer, CustomerStatus, PollerLease
from tests.flows import LINK
from tests.support.fake_bot_api import FakeBotAPI, TgUser
from tests.test_restart import show_logs, start_bot, stop

STAFF = 100
LEASE = "3s"  # CJM_POLL_LEASE: a dead holder is replaced within seconds
TAKEOVER = 60.0  # seconds: a generous deadline, not a measurement
Process = asyncio.subprocess.Process


async def holder_pid(database_url: str) -> int:
    """The pid of the process holding the poller lease, once one does."""
    engine = make_engine(database_url)
    try:
        async with asyncio.timeout(TAKEOVER):
            while True:
                async with engine.connect() as connection:
                    holder = (await connection.execute(select(PollerLease.holder))).scalar()
                if holder is not None:
                    return int(holder.split(":")[-2])  # host:pid:random
                await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


async def customer_status(database_url: str, user_id: int) -> str | None:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            query = select(Customer.status).where(Customer.tg_user_id == user_id)
            return (await connection.execute(query)).scalar()
    finally:
        await engine.dispose()


async def log_says(log: Path, words: str) -> None:
    async with asyncio.timeout(TAKEOVER):
        while True:
            if words in await asyncio.to_thread(log.read_text):
                return
            await asyncio.sleep(0.2)  # a file: nothing to wait on


async def two_bots(api: FakeBotAPI, database_url: str, logs: list[Path]) -> list[Process]:
    """Both started, one polling and the other standing by; the holder first (and its
    log: `logs` is put in the same order)."""
    bots = [
        await start_bot(api, database_url, log, poll_lease=LEASE, staff_ids=str(STAFF))
        for log in logs
    ]
    pid = await holder_pid(database_url)
    if bots[0].pid != pid:
        bots.reverse()
        logs.reverse()
    assert bots[0].pid == pid
    await log_says(logs[1], "Standing by: process")
    return bots


async def open_link(api: FakeBotAPI, customer: TgUser) -> dict[str, Any]:
    """Staff registers an order, the customer opens the link: the consent question."""
    staff = api.user(STAFF, first_name="Staff")
    await api.wait_acked(staff.send_text("/order alice"), timeout=TAKEOVER)
    match = LINK.search(api.last("sendPhoto").params["caption"])
    assert match
    await api.wait_acked(customer.send_text(f"/start {match.group(2)}"), timeout=TAKEOVER)
    return api.last_message_to(customer.user_id)


def conflicts(api: FakeBotAPI) -> list[Any]:
    return [c for c in api.calls_of("getUpdates") if c.outcome == "error"]


@pytest.mark.parametrize(
    ("how", "exit_code"),
    [
        (signal.SIGTERM, 0),  # it stops: releases the lease, the standby takes it at once
        (signal.SIGKILL, -signal.SIGKILL),  # it dies: no release, the lease runs out
    ],
    ids=["sigterm", "sigkill"],
)
async def test_one_polls_the_other_stands_by_and_takes_over_when_it_stops_or_dies(
    api: FakeBotAPI, database_url: str, tmp_path: Path, how: signal.Signals, exit_code: int
) -> None:
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    bots: list[Process] = []
    try:
        bots = await two_bots(api, database_url, logs)
        holder, standby = bots
        alice = api.user(701, first_name="Alice")
        consent = await open_link(api, alice)

        assert conflicts(api) == []  # never two long polls at once
        assert len(api.calls_of("sendPhoto")) == 1  # the /order handled once
        assert len(api.messages_to(alice.user_id)) == 1  # so was the /start

        assert await stop(holder, how) == exit_code
        await api.wait_acked(alice.click(consent, "Yes, let's do it"), timeout=TAKEOVER)
        assert await customer_status(database_url, 701) == CustomerStatus.ACTIVE
        assert [c.params["callback_query_id"] for c in api.calls_of("answerCallbackQuery")]
        assert await holder_pid(database_url) == standby.pid
        assert all("Conflict" not in log.read_text() for log in logs)
    except BaseException:
        show_logs(*logs)
        raise
    finally:
        for bot in bots:
            await stop(bot, signal.SIGTERM)
