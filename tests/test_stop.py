"""Stopping `cjm run` mid-drain (SPEC §4 "Delivery semantics"): SIGTERM finishes the sends
in flight and gives the rest back; SIGKILL leaves *unknown* only the requests really in
flight, and the claimed waves never attempted are sent after the lease."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.db import make_engine
from storage.models import Customer, Dispatch
from tests.support.fake_bot_api import FakeBotAPI
from tests.test_restart import (
    CHATS,
    seed_due_waves,
    sends_per_chat,
    show_logs,
    start_bot,
    stop,
    wait_until_settled,
    wave_states,
)

RATE = "20"  # messages a second: a drain of the 60 waves takes three seconds
KILL_AT = 15  # the sendMessage after which the process is stopped


async def claims(database_url: str) -> dict[int, bool]:
    """chat id → whether its request had started, for each wave still claimed."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(Customer.chat_id, Dispatch.sending_at)
                .join(Customer, Customer.id == Dispatch.customer_id)
                .where(Dispatch.status == "sending")
            )
            return {chat_id or 0: started is not None for chat_id, started in rows}
    finally:
        await engine.dispose()


def statuses(states: dict[int, tuple[str, str | None]]) -> Counter[str]:
    return Counter(status for status, _ in states.values())


MODES: dict[str, dict[str, str]] = {
    "polling": {},
    "webhook": {"webhook_url": "https://bot.example/telegram", "webhook_secret": "s3cret"},
}


@pytest.mark.parametrize("mode", MODES)
async def test_sigterm_mid_drain_finishes_the_sends_in_flight_and_gives_back_the_rest(
    api: FakeBotAPI, database_url: str, tmp_path: Path, mode: str
) -> None:
    await seed_due_waves(database_url)
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    try:
        first = await start_bot(
            api,
            database_url,
            first_log,
            send_rate=RATE,
            dispatch_batch="64",
            stop_timeout="2",
            **MODES[mode],
        )
        try:
            await api.wait_for("sendMessage", count=KILL_AT - 1, timeout=60)
            api.hang_next("sendMessage")  # one request in flight when the stop comes
            await api.wait_for(lambda call: call.outcome == "hang", timeout=30)
        finally:
            stopped = await stop(first, signal.SIGTERM)
        assert stopped == 0  # within CJM_STOP_TIMEOUT, though one request never answered
        hung = next(c for c in api.calls_of("sendMessage") if c.outcome == "hang")
        asked = set(sends_per_chat(api))
        # Nothing left claimed but the request still in flight; the rest is pending.
        assert await claims(database_url) == {int(hung.params["chat_id"]): True}
        states = await wave_states(database_url)
        assert statuses(states) == {
            "sent": len(asked) - 1,
            "sending": 1,
            "pending": 60 - len(asked),
        }

        second = await start_bot(api, database_url, second_log, send_lease="1s")
        try:
            await wait_until_settled(database_url)
        finally:
            assert await stop(second, signal.SIGTERM) == 0

        assert sends_per_chat(api) == Counter(CHATS)  # every chat asked exactly once
        states = await wave_states(database_url)
        assert statuses(states) == {"sent": 59, "unknown": 1}
        assert states[int(hung.params["chat_id"])][0] == "unknown"
    except BaseException:
        show_logs(first_log, second_log)
        raise


async def test_sigkill_mid_drain_leaves_unknown_only_the_requests_in_flight(
    api: FakeBotAPI, database_url: str, tmp_path: Path
) -> None:
    await seed_due_waves(database_url)
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    try:
        first = await start_bot(api, database_url, first_log, send_rate=RATE, dispatch_batch="64")
        try:
            await api.wait_for("sendMessage", count=KILL_AT, timeout=60)
        finally:
            await stop(first, signal.SIGKILL)
        attempted = set(sends_per_chat(api))
        claimed = await claims(database_url)
        never_started = {chat for chat, started in claimed.items() if not started}
        assert never_started, "the claim should hold more than the requests started"
        assert not never_started & attempted

        second = await start_bot(api, database_url, second_log, send_lease="1s")
        try:
            await wait_until_settled(database_url)
        finally:
            assert await stop(second, signal.SIGTERM) == 0

        states = await wave_states(database_url)
        unknown = {chat for chat, (status, _) in states.items() if status == "unknown"}
        assert unknown <= attempted and len(unknown) <= 10  # in flight at the kill
        assert set(sends_per_chat(api).values()) == {1}  # nobody asked twice
        assert {chat for chat, (status, _) in states.items() if status == "sent"} == (
            set(CHATS) - unknown
        )
        assert never_started <= set(sends_per_chat(api))  # claimed, never tried: sent now
    except BaseException:
        show_logs(first_log, second_log)
        raise
