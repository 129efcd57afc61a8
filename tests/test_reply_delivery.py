"""Replies never strand a customer, and an update is confirmed only once its effect is
stored (SPEC §4 "Delivery semantics"): the next question after a tap survives a transient
Bot API error, a 429 storm and a process killed between the commit and the reply; a
database error leaves the update unconfirmed until it is stored; the webhook answers
4xx for what is not an update and 503 for an update it could not store."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from sqlalchemy.exc import OperationalError

import bot.app
import bot.middlewares
import storage.answers
from storage.shared_rate import SharedRateLimiter
from tests.flows import first_wave
from tests.support.clock import FakeClock
from tests.support.fake_bot_api import FakeBotAPI, TgUser
from tests.support.harness import Harness

FIRST_ANSWER = "From friends or family"
SECOND_QUESTION = "How easy was it to find us?"
SECRET = "s3cret-Token_1"
HOOK = "https://bot.example.com/tg/updates"


def questions_seen(h: Harness, user: TgUser, question: str) -> int:
    return sum(question in text for text in h.api.sent_texts(user.user_id))


def on_screen(h: Harness, user: TgUser) -> str:
    return str(h.last_to(user)["text"])


FAULTS: dict[str, Callable[[FakeBotAPI], None]] = {
    "429": lambda api: api.fail_next("sendMessage", 429, "Too Many Requests", retry_after=1),
    "500": lambda api: api.fail_next("sendMessage", 500, "Internal Server Error"),
    "502 HTML page": lambda api: api.gateway_page_next("sendMessage", 502),
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_the_next_question_survives_a_transient_error(harness: Harness, fault: str) -> None:
    alice = harness.user(601)
    question = await first_wave(harness, alice, "alice")
    FAULTS[fault](harness.api)
    harness.api.fail_next("editMessageText", 502, "Bad Gateway")  # the answered message too

    await harness.click(alice, question, FIRST_ANSWER)

    assert SECOND_QUESTION in on_screen(harness, alice)
    assert questions_seen(harness, alice, SECOND_QUESTION) == 1
    answered = harness.api.message(alice.user_id, question["message_id"])
    assert "✅ From friends or family" in answered["text"]
    assert "reply_markup" not in answered


async def test_a_reply_lost_to_a_reset_is_not_sent_twice_and_continue_brings_it_back(
    harness: Harness,
) -> None:
    bob = harness.user(602)
    question = await first_wave(harness, bob, "bob")
    harness.api.reset_next("sendMessage")  # the connection closes: did Telegram send it?

    await harness.click(bob, question, FIRST_ANSWER)
    assert questions_seen(harness, bob, SECOND_QUESTION) == 0  # it may have: not resent

    await harness.send(bob, "/continue")
    assert SECOND_QUESTION in on_screen(harness, bob)
    assert questions_seen(harness, bob, SECOND_QUESTION) == 1
    [answer] = await harness.answers()
    assert answer.question_id == "heard_from"


async def test_a_reply_lost_to_a_reset_is_asked_again_by_the_outbox_unless_answered(
    harness: Harness,
) -> None:
    bob, cleo = harness.user(608), harness.user(610)
    bobs, cleos = await first_wave(harness, bob, "bob"), await first_wave(harness, cleo, "cleo")
    harness.app.replies.maybe_ask_again = 0.05  # seconds (2 minutes in production)
    harness.api.reset_next("sendMessage")  # not performed: Bob never sees the question
    await harness.click(bob, bobs, FIRST_ANSWER)
    harness.api.drop_next("sendMessage")  # performed, the answer lost: Cleo sees it
    await harness.click(cleo, cleos, FIRST_ANSWER)
    assert questions_seen(harness, bob, SECOND_QUESTION) == 0  # not at once: it may be there
    assert questions_seen(harness, cleo, SECOND_QUESTION) == 1
    await harness.click(cleo, harness.last_to(cleo), "5 ⭐")

    await harness.app.replies.idle()  # the wait is over: Bob has not answered
    report = await harness.drain()

    assert report.outcomes["reminded"] == 1
    assert questions_seen(harness, bob, SECOND_QUESTION) == 1
    assert SECOND_QUESTION in on_screen(harness, bob)
    assert questions_seen(harness, cleo, SECOND_QUESTION) == 1  # she answered: not again


async def test_a_question_that_outlasts_the_retries_is_sent_by_the_outbox(
    harness: Harness,
) -> None:
    hal = harness.user(609)
    question = await first_wave(harness, hal, "hal")
    harness.app.replies.patience, harness.app.replies.horizon = 0.2, 0.6
    harness.api.fail_next("sendMessage", 502, "Bad Gateway", times=10_000)  # the API is down

    await harness.click(hal, question, FIRST_ANSWER)
    await harness.app.replies.idle()  # the background gives up
    harness.api.heal()
    report = await harness.drain()

    assert report.outcomes["reminded"] == 1
    assert questions_seen(harness, hal, SECOND_QUESTION) == 1
    assert SECOND_QUESTION in on_screen(harness, hal)


async def test_continue_without_a_waiting_question_says_so(harness: Harness) -> None:
    carol = harness.user(603)
    await harness.send(carol, "/continue")
    assert harness.api.sent_texts(603) == ["No question is waiting for you right now. /help"]


async def test_a_429_storm_while_customers_answer_strands_nobody(harness: Harness) -> None:
    customers = [harness.user(700 + n) for n in range(20)]
    questions = [await first_wave(harness, c, f"c{n}") for n, c in enumerate(customers)]
    api = harness.api
    api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, times=6)
    api.fail_next("editMessageText", 429, "Too Many Requests", retry_after=1, times=3)
    api.fail_next("answerCallbackQuery", 429, "Too Many Requests", retry_after=1, times=3)

    taps = [c.click(q, FIRST_ANSWER) for c, q in zip(customers, questions, strict=True)]
    await api.wait_acked(taps[-1], timeout=60)

    def second_questions(call: Any) -> bool:
        return call.method == "sendMessage" and call.ok and SECOND_QUESTION in call.params["text"]

    await api.wait_for(second_questions, count=len(customers), timeout=60)
    for customer in customers:
        assert questions_seen(harness, customer, SECOND_QUESTION) == 1, customer.user_id
        assert SECOND_QUESTION in on_screen(harness, customer)
    assert len(await harness.answers()) == len(customers)


async def test_a_database_error_while_tapping_leaves_the_update_unconfirmed_until_stored(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    dave = harness.user(604)
    question = await first_wave(harness, dave, "dave")
    insert = storage.answers.insert
    locked = OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
    faults: list[BaseException] = [locked, locked, ConnectionRefusedError(111, "refused"), locked]
    confirmed_while_failing: list[int] = []
    update_id = harness.api.next_update_id()

    async def failing_insert(session: Any, values: dict[str, Any]) -> bool:
        if faults:
            confirmed_while_failing.append(harness.api.acked_offset)
            raise faults.pop(0)
        return await insert(session, values)

    monkeypatch.setattr(storage.answers, "insert", failing_insert)
    await harness.click(dave, question, FIRST_ANSWER)

    assert not faults  # every fault was met
    assert all(offset <= update_id for offset in confirmed_while_failing)
    assert [a.question_id for a in await harness.answers()] == ["heard_from"]
    assert questions_seen(harness, dave, SECOND_QUESTION) == 1


async def test_killed_between_the_commit_and_the_reply_the_replay_asks_the_next_question(
    api: FakeBotAPI, sqlite_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = Harness(api, sqlite_url, clock)
    await first.__aenter__()
    erin = first.user(605)
    question = await first_wave(first, erin, "erin")
    committed = asyncio.Event()
    original = bot.middlewares.Replies.flush

    async def die_before_replying(self: Any, *args: Any) -> None:
        committed.set()
        await asyncio.Event().wait()  # the process is gone before a word is sent

    monkeypatch.setattr(bot.middlewares.Replies, "flush", die_before_replying)
    tap = erin.click(question, FIRST_ANSWER)
    replayed = api.pending_updates[-1]
    await asyncio.wait_for(committed.wait(), 10)
    await first.stop()
    assert api.acked_offset <= tap  # never confirmed: Telegram delivers it again
    monkeypatch.setattr(bot.middlewares.Replies, "flush", original)

    async with Harness(api, sqlite_url, clock) as second:
        await api.wait_acked(tap, timeout=10)
        assert questions_seen(second, erin, SECOND_QUESTION) == 1
        assert SECOND_QUESTION in on_screen(second, erin)
        answered = api.message(erin.user_id, question["message_id"])
        assert "✅ From friends or family" in answered["text"]
        assert [a.question_id for a in await second.answers()] == ["heard_from"]

    # Once the reply is made, one more delivery of the same update asks nothing again.
    async with Harness(api, sqlite_url, clock) as third:
        await third.app.dp.feed_raw_update(third.app.bot, replayed)
        assert questions_seen(third, erin, SECOND_QUESTION) == 1


async def test_replies_go_out_at_a_local_rate_while_the_shared_limiter_is_down(
    harness: Harness,
) -> None:
    ivy = harness.user(611)
    question = await first_wave(harness, ivy, "ivy")
    shared = SharedRateLimiter.from_url("redis://127.0.0.1:1/0", "cjm:test", 25)  # no Redis
    harness.app.replies.limiter = shared
    try:
        await harness.click(ivy, question, FIRST_ANSWER)
    finally:
        await shared.close()

    assert SECOND_QUESTION in on_screen(harness, ivy)
    assert questions_seen(harness, ivy, SECOND_QUESTION) == 1


async def test_healthz_reports_the_bot_api_unreachable_within_half_a_minute(
    harness: Harness,
) -> None:
    api, url = harness.api, f"{harness.app.http.url}/healthz"
    api.fail_next("getUpdates", 502, "Bad Gateway", times=10_000)
    await api.wait_for(lambda c: c.method == "getUpdates" and c.outcome == "error", count=2)
    harness.clock.advance(seconds=31)
    async with aiohttp.ClientSession() as client:
        async with client.get(url) as response:
            assert response.status == 503
            telegram = (await response.json())["telegram"]  # the scheduler is off here too
            assert not telegram["ok"]
            assert "the Bot API is unreachable since" in telegram["detail"]
        polled = len([c for c in api.calls_of("getUpdates") if c.ok])
        api.heal()
        await api.wait_for(lambda c: c.method == "getUpdates" and c.ok, count=polled + 1)
        async with client.get(url) as response:
            assert (await response.json())["telegram"]["ok"]


# -- webhook ------------------------------------------------------------------------------


async def _post(h: Harness, body: bytes | str, content_type: str = "application/json") -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": content_type}
    async with (
        aiohttp.ClientSession() as client,
        client.post(f"{h.app.http.url}/tg/updates", data=body, headers=headers) as response,
    ):
        return response.status


async def test_the_webhook_answers_4xx_to_a_body_that_is_not_an_update(
    api: FakeBotAPI, sqlite_url: str, clock: FakeClock
) -> None:
    async with Harness(api, sqlite_url, clock, webhook_url=HOOK, webhook_secret=SECRET) as h:
        assert await _post(h, "not json at all") == 400
        assert await _post(h, b"\xff\xfe\x00garbage") == 400
        assert await _post(h, "[1, 2, 3]") == 400
        assert await _post(h, '{"hello": "world"}') == 400
        assert await _post(h, '{"update_id": "x", "message": 5}') == 400
        assert await _post(h, '{"update_id": 7}') == 200  # a valid update of no interest


async def test_the_webhook_answers_503_to_an_update_it_could_not_store(
    api: FakeBotAPI, sqlite_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.app, "WEBHOOK_DB_PATIENCE", 0.3)
    async with Harness(api, sqlite_url, clock, webhook_url=HOOK, webhook_secret=SECRET) as h:
        gus = h.user(607)
        update = {
            "update_id": 9001,
            "message": {"message_id": 1, "date": 0, "chat": gus.chat(), "from": gus.as_dict(),
                        "text": "/help", "entities": [{"type": "bot_command", "offset": 0,
                                                       "length": 5}]},
        }  # fmt: skip
        claim = bot.middlewares.claim_update
        locked = OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))

        async def locked_claim(*args: Any) -> bool:
            raise locked

        monkeypatch.setattr(bot.middlewares, "claim_update", locked_claim)
        assert await _post(h, json.dumps(update)) == 503
        assert api.sent_texts(607) == []
        monkeypatch.setattr(bot.middlewares, "claim_update", claim)
        assert await _post(h, json.dumps(update)) == 200  # Telegram's next delivery
        assert len(api.sent_texts(607)) == 1
