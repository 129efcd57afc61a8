"""The outbox drain end to end (SPEC §4 "Interviewing", "Delivery semantics"): what the
customer saw in Telegram and what the database holds after every kind of Telegram answer."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web
from sqlalchemy import select

from bot.messenger import TelegramMessenger
from bot.telegram_errors import TelegramSession
from storage.models import Customer, CustomerStatus, Dispatch, DispatchStatus
from storage.shared_rate import SharedRateLimiter
from surveys.dispatcher import MAX_ATTEMPTS, WaveDispatcher
from surveys.ratelimit import LocalRateLimiter
from tests.flows import connect, first_wave
from tests.support.clock import FakeClock
from tests.support.fake_bot_api import Call, FakeBotAPI
from tests.support.harness import Harness

FIRST_QUESTION = "How did you first hear about us?"
WAVE_2_INTRO = "A few days on"
REMINDER = "A gentle reminder"
MSK = timedelta(hours=3)  # Europe/Moscow, no DST


# -- what the customer saw -------------------------------------------------------------
def requests_to(h: Harness, chat_id: int, fragment: str = "") -> list[Call]:
    """Every sendMessage request for the chat whose text contains `fragment`, any outcome."""
    return [
        call
        for call in h.api.calls_of("sendMessage")
        if str(call.params.get("chat_id")) == str(chat_id)
        and fragment in str(call.params.get("text", ""))
    ]


def received(h: Harness, chat_id: int, fragment: str = FIRST_QUESTION) -> int:
    """How many messages containing `fragment` reached the chat (a hung request did)."""
    return sum(fragment in text for text in h.api.sent_texts(chat_id))


# -- what the database holds -----------------------------------------------------------
async def wave(h: Harness, wave_id: str = "after_purchase", customer_ref: str = "") -> Dispatch:
    statement = select(Dispatch).where(Dispatch.wave_id == wave_id).order_by(Dispatch.id)
    if customer_ref:
        statement = statement.join(Customer, Customer.id == Dispatch.customer_id).where(
            Customer.ref == customer_ref
        )
    row: Dispatch | None = await h.scalar(statement)
    assert row is not None, f"no {wave_id} wave"
    return row


async def customer(h: Harness, ref: str) -> Customer:
    row: Customer | None = await h.scalar(select(Customer).where(Customer.ref == ref))
    assert row is not None
    return row


async def connected_and_due(h: Harness, user_id: int, ref: str) -> None:
    """A consenting customer whose first wave is due now."""
    await connect(h, h.user(user_id), ref)
    h.clock.advance(hours=2, minutes=1)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def proxy_error_page() -> AsyncIterator[str]:
    """A reverse proxy in front of a self-hosted Bot API answering 502 with an HTML page."""
    page = "<html><body><h1>502 Bad Gateway</h1>" + "<!-- padding -->" * 60 + "</body></html>"

    async def bad_gateway(_: web.Request) -> web.Response:
        return web.Response(status=502, text=page, content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", bad_gateway)
    runner = web.AppRunner(app)
    await runner.setup()
    port = closed_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def dispatcher_via(h: Harness, api_url: str) -> AsyncIterator[WaveDispatcher]:
    """The app's dispatcher, but its bot talks to another Bot API address."""
    bot = Bot("123456:TEST", session=TelegramSession(api=TelegramAPIServer.from_base(api_url)))
    try:
        yield WaveDispatcher(
            h.app.sessions, h.app.survey, TelegramMessenger(bot, h.settings.request_timeout),
            LocalRateLimiter(0), h.settings.sending_rules, h.clock, "en",
        )  # fmt: skip
    finally:
        await bot.session.close()


# -- 429 -------------------------------------------------------------------------------
async def test_429_pauses_all_sending_and_requeues_without_a_failure(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> None:
    async with Harness(api, database_url, clock, dispatch_batch=1) as h:
        await connect(h, h.user(501), "alice")
        h.clock.advance(minutes=1)
        await connect(h, h.user(502), "bob")  # due a minute after alice: the next window
        h.clock.advance(hours=2, minutes=1)
        api.fail_next("sendMessage", 429, "Too Many Requests: retry after 2", retry_after=2)

        report = await h.drain()
        assert (await h.drain()).outcomes == {}  # still paused: nothing is even claimed

        assert report.outcomes == {"rate_limited": 1}  # not a failure, not a retry
        alice, bob = await wave(h, customer_ref="alice"), await wave(h, customer_ref="bob")
        assert (alice.status, alice.attempts, alice.error) == (DispatchStatus.PENDING, 0, None)
        assert alice.due_at == h.clock.now
        assert (bob.status, bob.attempts) == (DispatchStatus.PENDING, 0)  # never tried
        assert len(requests_to(h, 501, FIRST_QUESTION)) == 1
        assert requests_to(h, 502, FIRST_QUESTION) == []
        await asyncio.sleep(h.app.waves.limiter.paused_for + 0.1)
        assert (await h.drain()).sent == 2

        for chat_id, ref in ((501, "alice"), (502, "bob")):
            assert received(h, chat_id) == 1
            sent = await wave(h, customer_ref=ref)
            assert (sent.status, sent.attempts) == (DispatchStatus.SENT, 1)
        assert len(requests_to(h, 501, FIRST_QUESTION)) == 2  # the 429 one and the real one


# -- 403 -------------------------------------------------------------------------------
async def test_blocked_bot_makes_customer_unreachable_and_cancels_every_wave(
    harness: Harness,
) -> None:
    await connected_and_due(harness, 503, "carol")
    harness.api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")

    report = await harness.drain()

    assert report.outcomes["unreachable"] == 1
    assert (await customer(harness, "carol")).status == CustomerStatus.UNREACHABLE
    waves = await harness.dispatches()
    assert [(d.wave_id, d.status, d.due_at) for d in waves] == [
        ("after_purchase", DispatchStatus.CANCELLED, None),
        ("first_use", DispatchStatus.CANCELLED, None),
        ("loyalty", DispatchStatus.CANCELLED, None),
    ]
    assert waves[0].error == "403: Forbidden: bot was blocked by the user"
    assert waves[1].error == waves[2].error == "customer unreachable (blocked the bot)"
    tried = len(requests_to(harness, 503))
    for _ in range(4):
        harness.clock.advance(days=7)
        assert (await harness.drain()).outcomes == {}
    assert len(requests_to(harness, 503)) == tried


# -- read timeout / dropped connection ---------------------------------------------------
@pytest.mark.parametrize("failure", ["hang", "drop"])
async def test_no_response_leaves_wave_unknown_and_never_resent(
    harness: Harness, failure: str
) -> None:
    assert harness.settings.request_timeout == 2
    await connected_and_due(harness, 504, "dave")
    getattr(harness.api, f"{failure}_next")("sendMessage")

    report = await harness.drain()

    assert report.outcomes["unknown"] == 1
    unknown = await wave(harness)
    assert unknown.status == DispatchStatus.UNKNOWN and unknown.due_at is None
    assert unknown.error is not None and unknown.error.startswith("no response")
    assert [c.outcome for c in requests_to(harness, 504, FIRST_QUESTION)] == [failure]
    for days in (1, 1, 1.5):  # past its reminder, its expiry, and the next wave (day 3)
        harness.clock.advance(days=days)
        await harness.drain()
    assert len(requests_to(harness, 504, FIRST_QUESTION)) == 1
    assert received(harness, 504, WAVE_2_INTRO) == 1  # the journey goes on
    assert (await wave(harness)).status == DispatchStatus.UNKNOWN


# -- the request never reached Telegram, or Telegram did nothing ---------------------------
def shown(h: Harness, chat_id: int, fragment: str = FIRST_QUESTION) -> int:
    """How many messages containing `fragment` are on the customer's screen (also those
    whose answer was lost or was an error after the message was sent)."""
    return sum(fragment in str(m.get("text", "")) for m in h.api.messages_to(chat_id))


async def test_an_unreachable_bot_api_pauses_sending_and_no_attempt_is_counted(
    harness: Harness,
) -> None:
    await connected_and_due(harness, 505, "erin")
    for _ in range(MAX_ATTEMPTS + 2):  # more drains than a dead letter would allow
        async with dispatcher_via(harness, f"http://127.0.0.1:{closed_port()}") as offline:
            assert (await offline.drain()).outcomes == {"unavailable": 1}
            assert offline.limiter.paused_for > 0  # every send waits, not only this one
        waiting = await wave(harness)
        assert (waiting.status, waiting.attempts) == (DispatchStatus.PENDING, 0)
        assert waiting.error is not None and waiting.error.startswith("connection failed")
        harness.clock.advance(minutes=10)
    assert requests_to(harness, 505, FIRST_QUESTION) == []

    assert (await harness.drain()).sent == 1  # the Bot API is back

    assert received(harness, 505) == 1
    assert (await wave(harness)).status == DispatchStatus.SENT


async def test_a_bot_api_down_for_a_while_loses_no_wave(harness: Harness) -> None:
    for user_id, ref in ((520, "ann"), (521, "ben")):
        await connect(harness, harness.user(user_id), ref)
    harness.clock.advance(hours=2, minutes=1)
    await harness.api.go_down()
    for _ in range(3):
        report = await harness.drain()
        assert "sent" not in report.outcomes and "failed" not in report.outcomes
        await asyncio.sleep(harness.app.waves.limiter.paused_for)  # the outage pause
        harness.clock.advance(minutes=5)
    await harness.api.come_back()

    assert (await harness.drain()).sent == 2

    for user_id in (520, 521):
        assert received(harness, user_id) == 1
    assert {w.attempts for w in await harness.dispatches() if w.wave_id == "after_purchase"} == {1}


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_a_gateway_error_page_is_sent_again_and_counts_no_attempt(
    harness: Harness, status: int
) -> None:
    await connected_and_due(harness, 506, "frank")
    harness.api.gateway_next("sendMessage", status)

    assert (await harness.drain()).outcomes == {"unavailable": 1}

    retried = await wave(harness)
    assert (retried.status, retried.attempts) == (DispatchStatus.PENDING, 0)
    assert retried.error == f"gateway error {status}: the answer is not JSON"
    await asyncio.sleep(harness.app.waves.limiter.paused_for)
    assert (await harness.drain()).sent == 1
    assert (await wave(harness)).status == DispatchStatus.SENT
    assert shown(harness, 506) == 1
    assert len(requests_to(harness, 506, FIRST_QUESTION)) == 2


async def test_a_json_bad_gateway_is_sent_again(harness: Harness) -> None:
    await connected_and_due(harness, 507, "gina")
    harness.api.fail_next("sendMessage", 502, "Bad Gateway")

    assert (await harness.drain()).outcomes == {"unavailable": 1}
    await asyncio.sleep(harness.app.waves.limiter.paused_for)
    assert (await harness.drain()).sent == 1
    assert shown(harness, 507) == 1


async def test_a_500_after_the_send_is_unknown_and_not_sent_twice(harness: Harness) -> None:
    await connected_and_due(harness, 508, "hugo")
    harness.api.fail_after_next("sendMessage", 500, "Internal Server Error")

    assert (await harness.drain()).outcomes == {"unknown": 1}

    unknown = await wave(harness)
    assert (unknown.status, unknown.due_at) == (DispatchStatus.UNKNOWN, None)
    assert unknown.error == "500 after the request was sent: Internal Server Error"
    harness.clock.advance(hours=1)
    await harness.drain()
    assert shown(harness, 508) == 1
    assert len(requests_to(harness, 508, FIRST_QUESTION)) == 1


async def test_a_proxy_error_page_in_front_of_the_bot_api_is_sent_again(
    harness: Harness,
) -> None:
    await connected_and_due(harness, 514, "nina")
    async with proxy_error_page() as url, dispatcher_via(harness, url) as behind_proxy:
        assert (await behind_proxy.drain()).outcomes == {"unavailable": 1}

    waiting = await wave(harness)
    assert (waiting.status, waiting.attempts) == (DispatchStatus.PENDING, 0)
    assert waiting.error == "gateway error 502: the answer is not JSON"
    assert (await harness.drain()).sent == 1  # the proxy is fixed
    assert received(harness, 514) == 1


async def test_a_sub_second_request_timeout_still_times_out(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> None:
    async with Harness(api, database_url, clock, request_timeout=0.5) as h:
        await connected_and_due(h, 515, "oleg")
        api.hang_next("sendMessage")
        async with asyncio.timeout(30):  # no timeout at all would hang here until teardown
            assert (await h.drain()).outcomes == {"unknown": 1}
    assert len(requests_to(h, 515, FIRST_QUESTION)) == 1


# -- other 400s ------------------------------------------------------------------------
async def test_bad_request_is_dead_lettered_with_reason_and_not_retried(
    harness: Harness,
) -> None:
    await connected_and_due(harness, 507, "gina")
    harness.api.fail_next("sendMessage", 400, "Bad Request: chat not found")

    assert (await harness.drain()).outcomes == {"failed": 1}

    failed = await wave(harness)
    assert (failed.status, failed.attempts, failed.due_at) == (DispatchStatus.FAILED, 0, None)
    assert failed.error == "400: Bad Request: chat not found"
    assert failed.closed_at == harness.clock.now
    harness.clock.advance(hours=1)
    assert (await harness.drain()).outcomes == {}
    assert len(requests_to(harness, 507, FIRST_QUESTION)) == 1
    assert received(harness, 507) == 0


# -- quiet hours -----------------------------------------------------------------------
async def test_wave_falling_in_quiet_hours_is_planned_for_the_morning(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 11, 23, 20, 30, tzinfo=UTC) - MSK  # 20:30 in Moscow
    async with Harness(
        api, database_url, clock, quiet_hours="21:00-09:00", timezone="Europe/Moscow"
    ) as h:
        await connect(h, h.user(508), "hana")  # wave 1 ideally 2 h later: 22:30

        morning = datetime(2026, 11, 24, 9, 0, tzinfo=UTC) - MSK
        assert (await wave(h)).due_at == morning
        h.clock.advance(hours=2)  # 22:30
        assert (await h.drain()).sent == 0
        h.clock.now = morning - timedelta(minutes=1)
        assert (await h.drain()).sent == 0
        assert received(h, 508) == 0
        h.clock.now = morning
        assert (await h.drain()).sent == 1
        assert received(h, 508) == 1


async def test_wave_overdue_in_quiet_hours_is_deferred_to_the_morning(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 11, 23, 18, 0, tzinfo=UTC) - MSK  # 18:00 in Moscow
    async with Harness(
        api, database_url, clock, quiet_hours="21:00-09:00", timezone="Europe/Moscow"
    ) as h:
        await connect(h, h.user(509), "ivan")
        assert (await wave(h)).due_at == clock.now + timedelta(hours=2)  # 20:00: not quiet
        h.clock.advance(hours=4, minutes=30)  # the bot was down until 22:30

        assert (await h.drain()).outcomes == {"deferred": 1}

        morning = datetime(2026, 11, 24, 9, 0, tzinfo=UTC) - MSK
        deferred = await wave(h)
        assert (deferred.status, deferred.attempts) == (DispatchStatus.PENDING, 0)
        assert deferred.due_at == morning
        assert requests_to(h, 509, FIRST_QUESTION) == []
        h.clock.now = morning
        assert (await h.drain()).sent == 1
        assert received(h, 509) == 1


# -- one wave a day --------------------------------------------------------------------
async def test_two_waves_due_the_same_day_go_out_on_two_days(harness: Harness) -> None:
    await connect(harness, harness.user(510), "jack")
    harness.clock.advance(days=3, hours=1)  # down since the order: waves 1 and 2 both due

    assert (await harness.drain()).outcomes == {"sent": 1, "deferred": 1}

    tomorrow = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
    second = await wave(harness, "first_use")
    assert (second.status, second.due_at) == (DispatchStatus.PENDING, tomorrow)
    assert (await wave(harness)).status == DispatchStatus.SENT
    assert (received(harness, 510), received(harness, 510, WAVE_2_INTRO)) == (1, 0)
    harness.clock.now = tomorrow - timedelta(minutes=1)
    assert (await harness.drain()).sent == 0
    harness.clock.now = tomorrow
    assert (await harness.drain()).sent == 1
    assert (received(harness, 510), received(harness, 510, WAVE_2_INTRO)) == (1, 1)


async def test_second_order_is_planned_for_the_day_after_a_pending_wave(
    harness: Harness,
) -> None:
    await connect(harness, harness.user(511), "kate")
    loyalty_due = (await wave(harness, "loyalty")).due_at
    assert loyalty_due is not None
    harness.clock.now = loyalty_due - timedelta(hours=2)  # past the 14-day cooldown
    await harness.send(harness.staff, "/order kate")

    waves = await harness.dispatches()
    second_order = [d for d in waves if d.order_id != waves[0].order_id]
    assert second_order[0].wave_id == "after_purchase"
    assert loyalty_due == datetime(2026, 12, 14, 12, 0, tzinfo=UTC)
    assert second_order[0].due_at == datetime(2026, 12, 15, 0, 0, tzinfo=UTC)  # next day


# -- reminder and expiry ---------------------------------------------------------------
async def test_one_reminder_then_the_wave_expires(harness: Harness) -> None:
    await first_wave(harness, harness.user(512), "liam")
    sent = await wave(harness)
    assert sent.sent_at is not None and sent.due_at == sent.sent_at + timedelta(hours=20)

    harness.clock.now = sent.due_at
    assert (await harness.drain()).outcomes == {"reminded": 1}
    reminder = harness.last_to(harness.user(512))
    assert REMINDER in reminder["text"] and FIRST_QUESTION in reminder["text"]
    reminded = await wave(harness)
    assert (reminded.status, reminded.reminded_at) == (DispatchStatus.SENT, harness.clock.now)
    assert reminded.due_at == sent.sent_at + timedelta(days=3)
    for hours in (1, 12, 24):
        harness.clock.advance(hours=hours)
        assert (await harness.drain()).outcomes == {}

    harness.clock.now = sent.sent_at + timedelta(days=3)
    report = await harness.drain()

    assert report.outcomes["expired"] == 1 and report.outcomes["reminded"] == 0
    expired = await wave(harness)
    assert (expired.status, expired.due_at) == (DispatchStatus.EXPIRED, None)
    harness.clock.advance(hours=12)  # (wave 2, sent meanwhile, is reminded a day later)
    await harness.drain()
    assert received(harness, 512, REMINDER) == 1
    assert received(harness, 512, FIRST_QUESTION) == 2  # the wave and its one reminder


# -- a newer wave supersedes a half-answered one ---------------------------------------
async def test_a_reminder_due_while_the_bot_api_is_down_goes_out_when_it_is_back(
    harness: Harness,
) -> None:
    await first_wave(harness, harness.user(513), "mia")
    sent = await wave(harness)
    assert sent.due_at is not None
    harness.clock.now = sent.due_at
    await harness.api.go_down()

    assert (await harness.drain()).outcomes == {}  # the reminder could not go out
    waiting = await wave(harness)
    assert (waiting.status, waiting.reminded_at) == (DispatchStatus.SENT, None)

    await harness.api.come_back()
    await asyncio.sleep(harness.app.waves.limiter.paused_for)  # the outage pause
    harness.clock.advance(minutes=10)
    assert (await harness.drain()).outcomes == {"reminded": 1}
    reminders = [t for t in harness.api.sent_texts(513) if REMINDER in t]
    assert len(reminders) == 1 and FIRST_QUESTION in reminders[0]
    harness.clock.advance(hours=1)
    assert (await harness.drain()).outcomes == {}  # once


async def test_half_answered_wave_expires_when_the_next_wave_is_sent(harness: Harness) -> None:
    mia = harness.user(513)
    question = await first_wave(harness, mia, "mia")
    await harness.click(mia, question, "I've been here before")
    harness.clock.advance(hours=20)
    assert (await harness.drain()).outcomes == {"reminded": 1}
    left_open = harness.last_to(mia)  # the reminder of a question never answered

    second_due = (await wave(harness, "first_use")).due_at
    assert second_due is not None
    harness.clock.now = second_due
    assert (await harness.drain()).outcomes == {"sent": 1, "expired": 1}

    assert received(harness, 513, WAVE_2_INTRO) == 1
    first, second = await wave(harness), await wave(harness, "first_use")
    assert (first.status, first.due_at) == (DispatchStatus.EXPIRED, None)
    assert first.closed_at == harness.clock.now
    assert second.status == DispatchStatus.SENT
    await harness.click(mia, left_open, "Something on the menu")  # a stale button
    assert [a.question_id for a in await harness.answers()] == ["heard_from"]


# -- the bot itself refused, and waves left too long --------------------------------------
@pytest.mark.parametrize(("code", "description"), [(401, "Unauthorized"), (404, "Not Found")])
async def test_a_refused_token_pauses_sending_and_loses_nothing(
    harness: Harness, code: int, description: str
) -> None:
    await connected_and_due(harness, 514, "nina")
    await connected_and_due(harness, 515, "omar")
    harness.api.fail_next("sendMessage", code, description)

    report = await harness.drain()

    assert report.outcomes["outage"] == 1 and "failed" not in report.outcomes
    assert harness.app.waves.limiter.paused_for > 50  # a minute's pause for every wave
    waves = await harness.dispatches()
    first_waves = [w for w in waves if w.wave_id == "after_purchase"]
    assert {w.status for w in first_waves} <= {DispatchStatus.PENDING, DispatchStatus.SENT}
    refused = [w for w in first_waves if w.status == DispatchStatus.PENDING]
    assert len(refused) >= 1 and refused[0].attempts == 0
    assert refused[0].error is not None and "refuses this bot" in refused[0].error


async def test_a_wave_overdue_past_its_expiry_is_skipped_not_sent_late(harness: Harness) -> None:
    await connect(harness, harness.user(516), "pia")
    harness.clock.advance(days=3, hours=3)  # the bot was down: wave 1 is 3 days late

    report = await harness.drain()

    first = await wave(harness)
    assert first.status == DispatchStatus.SKIPPED
    assert first.error is not None and first.error.startswith("too late to ask")
    assert received(harness, 516) == 0
    assert report.outcomes["skipped"] == 1
    assert received(harness, 516, WAVE_2_INTRO) == 1  # wave 2 is due now and goes out


# -- Redis, which shares the send rate, unreachable --------------------------------------
async def test_waves_go_out_at_a_local_rate_while_redis_is_unreachable(
    harness: Harness,
) -> None:
    for user_id, ref in ((530, "una"), (531, "vic"), (532, "wes")):
        await connect(harness, harness.user(user_id), ref)
    harness.clock.advance(hours=2, minutes=1)
    cut = f"redis://127.0.0.1:{closed_port()}/0"
    limiter = SharedRateLimiter.from_url(cut, "cjm:test", 25, fallback=LocalRateLimiter(50))
    waves = WaveDispatcher(
        harness.app.sessions, harness.app.survey, harness.app.waves.messenger, limiter,
        harness.settings.sending_rules, harness.clock, "en",
    )  # fmt: skip
    try:
        assert (await waves.drain()).outcomes == {"sent": 3}
    finally:
        await limiter.close()

    for user_id in (530, 531, 532):
        assert received(harness, user_id) == 1
    assert {w.status for w in await harness.dispatches() if w.wave_id == "after_purchase"} == {
        DispatchStatus.SENT
    }
