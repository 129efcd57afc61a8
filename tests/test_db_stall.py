"""A database that stalls mid-window (SPEC §4 "Delivery semantics", issue 11): another
writer holds the lock for a while as `cjm run` drains a backlog through the fake Bot API.
The sends that took their rate slot before the stall must not all go out at once when it
ends: Telegram sees no more in any second than the send rate and its burst allowance,
and every customer is asked once."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

from bench.faults import most_in_one_second
from bot.app import BURST_SECONDS
from tests.support.databases import hold_write_lock
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

RATE = 25  # CJM_SEND_RATE: the 60 waves take about 2.4 s
STALL_AT = 10  # the sendMessage after which the database stalls
STALL = 1.5  # seconds: ~37 rate slots' worth


async def test_a_database_stall_mid_window_sends_no_burst_and_every_wave_once(
    api: FakeBotAPI, database_url: str, tmp_path: Path
) -> None:
    await seed_due_waves(database_url)
    log = tmp_path / "bot.log"
    try:
        bot = await start_bot(api, database_url, log, send_rate=str(RATE), dispatch_batch="64")
        try:
            await api.wait_for("sendMessage", count=STALL_AT, timeout=60)
            # Another writer holds the outbox: SQLite's write lock, or PostgreSQL's
            # dispatches table. Reads go on; every write to it waits.
            await hold_write_lock(database_url, "dispatches", STALL)
            await wait_until_settled(database_url)
        finally:
            assert await stop(bot, signal.SIGTERM) == 0

        assert sends_per_chat(api) == Counter(CHATS)  # every chat asked exactly once
        states = await wave_states(database_url)
        assert Counter(status for status, _ in states.values()) == {"sent": len(CHATS)}
        # What Telegram would count: the requests received in any one second.
        received = sorted(call.at for call in api.calls_of("sendMessage"))
        assert most_in_one_second(received) <= RATE + RATE * BURST_SECONDS
    except BaseException:
        show_logs(log)
        raise
