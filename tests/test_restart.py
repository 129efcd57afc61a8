"""Restarts (SPEC §4 "Delivery semantics"): a process killed mid-drain sends nothing twice
and loses nothing; the state "waiting for a comment" and the record of handled updates
live in the database, not in the process."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from storage.db import make_engine
from storage.models import Customer, Dispatch, DispatchStatus
from tests.flows import first_wave
from tests.support.clock import FakeClock
from tests.support.fake_bot_api import (
    FakeBotAPI,
    TgUser,
    find_button,
    make_callback_update,
    make_message_update,
)
from tests.support.harness import Harness
from tests.support.seed import due_in_order, linked_waves

ROOT = Path(__file__).resolve().parent.parent
CHATS = list(range(20_001, 20_061))
WINDOW = 8  # CJM_DISPATCH_BATCH: the waves one drain claims and sends at once
HANG_AT = 25  # the sendMessage that never gets an answer
UNSETTLED = (DispatchStatus.PENDING, DispatchStatus.SENDING)


# -- a real `cjm run` process ----------------------------------------------------------
async def seed_due_waves(database_url: str) -> None:
    """60 consenting customers, each with wave 1 due; one a second apart, so the drain
    takes them in this order."""
    await linked_waves(database_url, due_in_order(CHATS, datetime.now(UTC), timedelta(seconds=1)))


async def start_bot(
    api: FakeBotAPI, database_url: str, log: Path, **settings: str
) -> asyncio.subprocess.Process:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CJM_")}
    env.update(
        CJM_BOT_TOKEN="123456:TEST", CJM_TELEGRAM_API_URL=api.url, CJM_DATABASE_URL=database_url,
        CJM_QUIET_HOURS="off", CJM_SEND_RATE="0", CJM_DISPATCH_INTERVAL="0.2",
        CJM_DISPATCH_BATCH=str(WINDOW), CJM_REQUEST_TIMEOUT="30", CJM_HTTP_PORT="0",
    )  # fmt: skip
    env.update({f"CJM_{name.upper()}": value for name, value in settings.items()})
    with log.open("ab") as output:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", cwd=ROOT, env=env,
            stdout=output, stderr=output,
        )  # fmt: skip


async def stop(process: asyncio.subprocess.Process, how: signal.Signals) -> int:
    if process.returncode is None:
        process.send_signal(how)
    try:
        return await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def wave_states(database_url: str) -> dict[int, tuple[str, str | None]]:
    """chat id → (status, error) of its wave."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(Customer.chat_id, Dispatch.status, Dispatch.error).join(
                    Customer, Customer.id == Dispatch.customer_id
                )
            )
            return {chat_id or 0: (status, error) for chat_id, status, error in rows}
    finally:
        await engine.dispose()


async def wait_until_settled(database_url: str) -> None:
    async with asyncio.timeout(60):
        while True:
            states = await wave_states(database_url)
            if not any(status in UNSETTLED for status, _ in states.values()):
                return
            await asyncio.sleep(0.2)


def sends_per_chat(api: FakeBotAPI) -> Counter[int]:
    return Counter(int(call.params["chat_id"]) for call in api.calls_of("sendMessage"))


def show_logs(*logs: Path) -> None:
    """Printed only when the test fails (pytest captures it)."""
    for log in logs:
        if log.exists():
            print(f"--- {log.name}\n{log.read_text()[-4000:]}")


async def test_killed_mid_drain_and_restarted_sends_every_wave_exactly_once(
    api: FakeBotAPI, database_url: str, tmp_path: Path
) -> None:
    await seed_due_waves(database_url)
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    try:
        first = await start_bot(api, database_url, first_log)
        try:
            await api.wait_for("sendMessage", count=HANG_AT - 1, timeout=60)
            api.hang_next("sendMessage")
            hung = await api.wait_for(lambda call: call.outcome == "hang", timeout=30)
            start = api.calls_of("sendMessage").index(hung[0]) // WINDOW * WINDOW
            end = min(start + WINDOW, len(CHATS))  # the hung request's window
            await api.wait_for("sendMessage", count=end, timeout=30)  # all of it in flight
        finally:
            killed = await stop(first, signal.SIGKILL)
        assert killed == -signal.SIGKILL
        in_flight = {int(c.params["chat_id"]) for c in api.calls_of("sendMessage")[start:end]}
        assert int(hung[0].params["chat_id"]) in in_flight and len(in_flight) == end - start

        second = await start_bot(api, database_url, second_log, send_lease="1s")
        try:
            await wait_until_settled(database_url)
        finally:
            stopped = await stop(second, signal.SIGTERM)
        assert stopped == 0  # a clean shutdown

        assert sends_per_chat(api) == Counter(CHATS)  # every chat asked exactly once
        states = await wave_states(database_url)
        unknown = {chat for chat, (status, _) in states.items() if status == "unknown"}
        # Only requests whose answer had not been recorded yet: the hung one, and at most
        # the others of its window answered just before the kill.
        assert int(hung[0].params["chat_id"]) in unknown and unknown <= in_flight
        assert {chat for chat, (status, _) in states.items() if status == "sent"} == (
            set(CHATS) - unknown
        )
        assert all("process stopped while sending" in str(states[chat][1]) for chat in unknown)
    except BaseException:
        show_logs(first_log, second_log)
        raise


# -- in-process restarts ---------------------------------------------------------------
async def reach_the_comment_prompt(h: Harness, user: TgUser, ref: str) -> dict[str, Any]:
    """Wave 1 answered up to the pain-point question; returns the last tap's update."""
    question = await first_wave(h, user, ref)
    for answer in ("I've been here before", "Something on the menu", "2 ⭐"):
        await h.click(user, question, answer)
        question = h.last_to(user)
    data = find_button(question, "😞 Disappointment")["callback_data"]
    tap = make_callback_update(user, question, data, update_id=h.api.next_update_id())
    await h.push(tap)
    assert "What could we have done better?" in h.last_to(user)["text"]
    return tap


async def test_comment_typed_across_a_restart_lands_on_its_question(
    harness: Harness, api: FakeBotAPI, database_url: str, clock: FakeClock
) -> None:
    nora = harness.user(601)
    await reach_the_comment_prompt(harness, nora, "nora")
    await harness.stop()

    async with Harness(api, database_url, clock) as restarted:
        await restarted.send(nora, "The coffee was cold")

        answers = {a.question_id: a for a in await restarted.answers()}
        wave = (await restarted.dispatches())[0]
    assert answers["visit_pain"].comment == "The coffee was cold"
    assert answers["visit_pain"].dispatch_id == wave.id
    assert wave.status == DispatchStatus.ANSWERED
    assert api.sent_texts(601)[-1] == "Thank you! That's all for now 🙏"


async def test_updates_replayed_after_a_restart_change_nothing(
    harness: Harness, api: FakeBotAPI, database_url: str, clock: FakeClock
) -> None:
    olga = harness.user(602)
    tap = await reach_the_comment_prompt(harness, olga, "olga")
    comment = make_message_update(
        olga.as_dict(), "Too noisy", update_id=api.next_update_id(),
        message_id=api.next_message_id(602),
    )  # fmt: skip
    await harness.push(comment)
    answered = [(a.id, a.question_id, a.comment) for a in await harness.answers()]
    await harness.stop()

    async with Harness(api, database_url, clock) as restarted:
        seen = len(api.calls)
        for update in (tap, comment):  # Telegram delivers again what it had delivered
            await restarted.app.dp.feed_raw_update(restarted.app.bot, update)

        assert [(a.id, a.question_id, a.comment) for a in await restarted.answers()] == answered
    assert [c.method for c in api.calls[seen:] if c.method != "getUpdates"] == [
        "answerCallbackQuery"  # the replayed tap is answered, so no button keeps spinning
    ]
    assert [q for _, q, _ in answered].count("visit_pain") == 1
