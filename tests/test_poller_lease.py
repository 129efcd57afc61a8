"""One poller per bot (issue 11): the poller lease in the database decides which process
calls getUpdates; a 409 Conflict from Telegram while we hold it is waited out, not
fought. On SQLite and PostgreSQL; the processes themselves: tests/test_two_pollers.py."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import ClientSession, ClientTimeout

from bot.poll_gate import PollingGate
from storage.db import make_engine, make_session_factory
from storage.poller_lease import leases, release, take
from tests.support.clock import FakeClock
from tests.support.databases import hold_write_lock
from tests.support.fake_bot_api import FakeBotAPI
from tests.support.harness import Harness
from tests.test_api import parse

BOT = 123456
TTL = timedelta(seconds=30)
T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


async def take_as(url: str, holder: str, now: datetime) -> str:
    """Who holds the lease after `holder` tried to take it at `now`."""
    engine = make_engine(url)
    try:
        async with make_session_factory(engine).begin() as session:
            return (await take(session, BOT, holder, now, TTL)).holder
    finally:
        await engine.dispose()


async def release_as(url: str, holder: str) -> bool:
    engine = make_engine(url)
    try:
        async with make_session_factory(engine).begin() as session:
            return await release(session, BOT, holder)
    finally:
        await engine.dispose()


# -- the lease in the database -------------------------------------------------------------
async def test_the_first_takes_the_lease_the_others_are_told_who_has_it(database_url: str) -> None:
    assert await take_as(database_url, "a:1:x", T0) == "a:1:x"
    assert await take_as(database_url, "b:2:y", T0 + timedelta(seconds=1)) == "a:1:x"
    # Renewed by its holder just before it ran out: the others still wait.
    assert await take_as(database_url, "a:1:x", T0 + timedelta(seconds=29)) == "a:1:x"
    assert await take_as(database_url, "b:2:y", T0 + timedelta(seconds=58)) == "a:1:x"

    engine = make_engine(database_url)
    async with make_session_factory(engine)() as session:
        (lease,) = await leases(session)
    await engine.dispose()
    assert (lease.holder, lease.acquired_at) == ("a:1:x", T0)
    assert lease.expires_at == T0 + timedelta(seconds=59)


async def test_an_expired_lease_is_taken_over_and_a_released_one_at_once(
    database_url: str,
) -> None:
    assert await take_as(database_url, "a:1:x", T0) == "a:1:x"
    # The holder died: no renewal; once its lease has run out the standby takes it.
    assert await take_as(database_url, "b:2:y", T0 + TTL) == "b:2:y"
    assert await take_as(database_url, "a:1:x", T0 + TTL) == "b:2:y"  # back: it waits
    assert await release_as(database_url, "a:1:x") is False  # not its lease any more
    assert await take_as(database_url, "a:1:x", T0 + TTL) == "b:2:y"
    # A graceful stop gives it up: the next try takes it, long before it would expire.
    assert await release_as(database_url, "b:2:y") is True
    assert await take_as(database_url, "a:1:x", T0 + TTL + timedelta(seconds=1)) == "a:1:x"


async def test_processes_trying_together_leave_one_holder(database_url: str) -> None:
    holders = [f"host:{n}:r" for n in range(6)]
    seen = await asyncio.gather(*(take_as(database_url, h, T0) for h in holders))
    assert len(set(seen)) == 1 and seen[0] in holders


# -- a running app -------------------------------------------------------------------------
def gate_of(h: Harness) -> PollingGate:
    assert h.app.polling is not None
    return h.app.polling


async def health(h: Harness) -> dict[str, Any]:
    async with ClientSession() as http, http.get(f"{h.app.http.url}/healthz") as response:
        body: dict[str, Any] = await response.json()
    return body


async def metrics(h: Harness) -> dict[str, float]:
    async with ClientSession() as http, http.get(f"{h.app.http.url}/metrics") as response:
        return parse(await response.text())


async def until(condition: Any, seconds: float = 20.0) -> None:
    """A generous deadline for what the lease's timers bring about."""
    async with asyncio.timeout(seconds):
        while True:
            if condition():
                return
            await asyncio.sleep(0.05)  # the state lives in plain attributes: look again


async def test_a_second_app_on_the_same_database_stands_by_and_takes_over_after_the_first(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> None:
    first = await Harness(api, database_url, clock, poll_lease="3s").__aenter__()
    try:
        await until(lambda: gate_of(first).lease.polling)
        async with Harness(api, database_url, clock, poll_lease="3s") as second:
            await until(lambda: gate_of(second).lease.other is not None)
            holder = gate_of(first).lease.holder
            assert (await health(first))["updates"] == {
                "ok": True, "mode": "polling", "detail": "this process polls Telegram",
            }  # fmt: skip
            assert (await health(second))["updates"] == {
                "ok": True, "mode": "standby",
                "detail": f"standing by: process {holder} polls Telegram; this one takes "
                "over when it stops",
            }  # fmt: skip
            assert (await metrics(first))["cjm_polling"] == 1
            assert (await metrics(second))["cjm_polling"] == 0

            await first.send(first.staff, "/help")  # handled by the first, once
            assert len(api.sent_texts(first.staff.user_id)) == 1

            # Never two long polls at once: Telegram (and the fake) would answer 409.
            assert not [c for c in api.calls_of("getUpdates") if c.outcome == "error"]

            await first.stop()  # releases the lease: the second polls at its next try
            await second.send(second.staff, "/help")
            assert len(api.sent_texts(second.staff.user_id)) == 2
            assert (await health(second))["updates"]["mode"] == "polling"
    finally:
        await first.stop()


async def poll_as_another_program(api: FakeBotAPI, seconds: float) -> None:
    """A bot program outside our database polling with the same token (Telegram counts
    consumers per token; the fake per server), until `seconds` have passed."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    async with ClientSession(timeout=ClientTimeout(total=5)) as http:
        while loop.time() < end:
            async with http.post(f"{api.url}/bot123456:OTHER/getUpdates", data={"timeout": 1}):
                pass


async def test_a_409_conflict_is_waited_out_logged_once_and_counted(
    api: FakeBotAPI, sqlite_url: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    async with Harness(api, sqlite_url, clock) as h:
        await until(lambda: gate_of(h).lease.polling)
        await poll_as_another_program(api, 4.0)

        ours = [
            c for c in api.calls_of("getUpdates")
            if c.token == "123456:TEST" and c.outcome == "error"
        ]  # fmt: skip
        assert ours and all(c.response and c.response["error_code"] == 409 for c in ours)
        assert (await metrics(h))["cjm_poll_conflicts_total"] == len(ours)
        updates = (await health(h))["updates"]
        assert (updates["ok"], updates["mode"]) == (False, "polling")
        assert "409 Conflict" in updates["detail"]
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "Another program is polling" in errors[0].getMessage()

        # The other program is gone: the next try polls again and updates are handled.
        await h.api.wait_acked(h.staff.send_text("/help"), timeout=90)
        assert api.sent_texts(h.staff.user_id)
        assert (await health(h))["updates"]["ok"] is True
    assert "Polling works again after" in caplog.text


async def test_a_holder_that_cannot_renew_stops_polling_before_its_lease_runs_out(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> None:
    async with Harness(api, database_url, clock, poll_lease="3s") as h:
        lease = gate_of(h).lease
        await until(lambda: lease.polling)
        # The database does not answer the renewal: another writer holds the lease's table.
        stalled = asyncio.create_task(hold_write_lock(database_url, "poller_lease", 8.0))
        await until(lambda: not lease.polling, seconds=6.0)  # within the stall
        polls = len(api.calls_of("getUpdates"))
        await asyncio.sleep(1.0)  # aiogram (polling_timeout=1) would have asked again
        assert len(api.calls_of("getUpdates")) == polls
        assert not stalled.done(), "the stall ended too early to tell"
        await stalled
        await until(lambda: lease.polling)  # the database answers: it holds it again
        await h.send(h.staff, "/help")
        assert api.sent_texts(h.staff.user_id)
