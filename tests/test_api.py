"""The HTTP API over a real port, with the bot polling the fake Bot API beside it."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import ClientSession
from sqlalchemy import func, select

from api.deps import TelegramState
from api.health import telegram_check
from bot.app import build_app
from reports.aggregate import Period
from reports.report import build_report
from storage.models import Dispatch, Journey, LinkToken, Order
from tests.flows import LINK
from tests.support.clock import FakeClock
from tests.support.fake_bot_api import FakeBotAPI, TgUser
from tests.support.harness import Harness, settings_for

KEY = "test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
async def server(api: FakeBotAPI, database_url: str, clock: FakeClock) -> AsyncIterator[Harness]:
    async with Harness(api, database_url, clock, api_key=KEY) as running:
        yield running


@pytest.fixture
async def http(server: Harness) -> AsyncIterator[ClientSession]:
    async with ClientSession(base_url=server.app.http.url) as session:
        yield session


async def post(
    http: ClientSession, path: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with http.post(path, json=body, headers=AUTH if headers is None else headers) as r:
        return r.status, await r.json()


def order(external_id: str, ref: str = "+79990001122", **more: Any) -> dict[str, Any]:
    return {"external_id": external_id, "customer_ref": ref, **more}


# -- auth ----------------------------------------------------------------------------------


async def test_without_a_configured_key_the_api_says_so(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> None:
    async with (
        Harness(api, database_url, clock) as h,
        ClientSession(base_url=h.app.http.url) as http,
    ):
        status, body = await post(http, "/api/v1/orders", order("A-1"))
        async with http.get("/api/v1/report", headers=AUTH) as response:
            report_status = response.status
    assert status == 503 and report_status == 503
    assert "CJM_API_KEY is not set" in body["errors"][0]["message"]
    assert await h.count(Order) == 0


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-key"}, {"Authorization": f"Basic {KEY}"}],
    ids=["missing", "wrong", "not-bearer"],
)
async def test_a_missing_or_wrong_key_is_refused(
    server: Harness, http: ClientSession, headers: dict[str, str]
) -> None:
    async with http.post("/api/v1/orders", json=order("A-1"), headers=headers) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await response.json())["errors"][0]["field"] is None
    async with http.get("/api/v1/report", headers=headers) as response:
        assert response.status == 401
    assert await server.count(Order) == 0


# -- malformed requests ----------------------------------------------------------------------


async def test_malformed_json_and_other_content_types(
    server: Harness, http: ClientSession
) -> None:
    headers = {**AUTH, "Content-Type": "application/json"}
    async with http.post("/api/v1/orders", data=b'{"external_id": ', headers=headers) as r:
        assert r.status == 400
        assert "not valid JSON" in (await r.json())["errors"][0]["message"]
    async with http.post("/api/v1/orders", data=b"external_id=1", headers=AUTH) as r:
        assert r.status == 415
        assert "application/json" in (await r.json())["errors"][0]["message"]
    async with http.post("/api/v1/orders", data=b"", headers=headers) as r:
        assert r.status == 400


async def test_an_oversized_body_is_refused_unread(server: Harness, http: ClientSession) -> None:
    big = {"orders": [order(f"A-{i}", "x" * 120) for i in range(20_000)]}
    status, body = await post(http, "/api/v1/orders/batch", big)
    assert status == 413 and "larger than" in body["errors"][0]["message"]
    assert await server.count(Order) == 0


async def test_unknown_missing_and_invalid_fields_are_named(
    server: Harness, http: ClientSession
) -> None:
    status, body = await post(http, "/api/v1/orders", order("A-1", coupon="X"))
    assert status == 422 and body["errors"] == [{"field": "coupon", "message": "unknown field"}]

    status, body = await post(http, "/api/v1/orders", {"customer_ref": "+7999"})
    assert status == 422 and [e["field"] for e in body["errors"]] == ["external_id"]

    bad = order("has space", "two words", segment="s" * 65, purchased_at="2026-11-23T10:00")
    status, body = await post(http, "/api/v1/orders", bad)
    fields = sorted(e["field"] for e in body["errors"])
    assert status == 422
    assert fields == ["customer_ref", "external_id", "purchased_at", "segment"]
    messages = {e["field"]: e["message"] for e in body["errors"]}
    assert "timezone" in messages["purchased_at"]
    # Said in words, not as the regular expression it was checked with.
    assert messages["external_id"] == "expected printable ASCII characters without spaces"
    assert await server.count(Order) == 0


async def test_the_services_refusal_names_the_field(
    server: Harness, http: ClientSession, clock: FakeClock
) -> None:
    future = (clock.now + timedelta(days=3)).isoformat()
    status, body = await post(http, "/api/v1/orders", order("A-1", purchased_at=future))
    assert status == 422
    assert body == {"errors": [{"field": "purchased_at", "message": "is in the future"}]}


# -- orders ----------------------------------------------------------------------------------


async def test_an_order_gives_the_customers_link_once(
    server: Harness, http: ClientSession
) -> None:
    first_status, first = await post(http, "/api/v1/orders", order("CRM-1", segment="downtown"))
    again_status, again = await post(http, "/api/v1/orders", order("CRM-1", segment="other"))

    assert (first_status, again_status) == (201, 200)
    assert first["created"] is True and again["created"] is False
    assert first["journey"] == Journey.AWAITING_LINK
    match = LINK.fullmatch(first["link"])
    assert match and match.group(1) == "cjm_test_bot"
    assert {k: v for k, v in again.items() if k != "created"} == {
        k: v for k, v in first.items() if k != "created"
    }
    assert (await server.count(Order), await server.count(LinkToken)) == (1, 1)
    stored = await server.scalar(select(Order))
    assert (stored.id, stored.source, stored.segment) == (first["order_id"], "api", "downtown")


async def test_a_known_customer_is_scheduled_at_once_and_the_link_state_follows(
    server: Harness, http: ClientSession
) -> None:
    alice = server.user(501)
    _, first = await post(http, "/api/v1/orders", order("CRM-1", "alice"))
    await consent(server, alice, first["link"])

    _, repeat = await post(http, "/api/v1/orders", order("CRM-1", "alice"))
    assert repeat["link"] is None  # used: the customer opened it
    status, second = await post(http, "/api/v1/orders", order("CRM-2", "alice"))
    assert status == 201 and second["journey"] == Journey.COOLDOWN
    assert second["cooldown_until"] is not None and second["link"] is None
    server.clock.advance(days=60)
    _, third = await post(http, "/api/v1/orders", order("CRM-3", "alice"))
    assert third["journey"] == Journey.SCHEDULED and third["first_wave_at"] is not None


async def consent(h: Harness, user: TgUser, link: str) -> None:
    match = LINK.fullmatch(link)
    assert match
    await h.send(user, f"/start {match.group(2)}")
    await h.click(user, h.last_to(user), "Yes, let's do it")


async def test_a_batch_answers_item_by_item_and_a_repeat_is_one_order(
    server: Harness, http: ClientSession
) -> None:
    batch = {"orders": [order("B-1", "ann"), order("B-2", "bob"), order("B-1", "ann")]}
    status, body = await post(http, "/api/v1/orders/batch", batch)

    assert status == 200 and (body["created"], body["known"]) == (2, 1)
    results = body["orders"]
    assert [(r["external_id"], r["created"]) for r in results] == [
        ("B-1", True),
        ("B-2", True),
        ("B-1", False),
    ]
    assert results[0]["order_id"] == results[2]["order_id"]
    assert results[0]["link"] == results[2]["link"] != results[1]["link"]
    assert (await server.count(Order), await server.count(LinkToken)) == (2, 2)

    _, again = await post(http, "/api/v1/orders/batch", batch)
    assert (again["created"], again["known"]) == (0, 3)
    assert [r["order_id"] for r in again["orders"]] == [r["order_id"] for r in results]


async def test_racing_repeats_of_one_order_make_one_order(
    server: Harness, http: ClientSession
) -> None:
    results = await asyncio.gather(
        *(post(http, "/api/v1/orders", order("RACE-1", "racer")) for _ in range(6))
    )
    assert sorted(status for status, _ in results) == [200, 200, 200, 200, 200, 201]
    assert len({body["order_id"] for _, body in results}) == 1
    assert len({body["link"] for _, body in results}) == 1
    assert (await server.count(Order), await server.count(LinkToken)) == (1, 1)


async def test_a_batch_is_registered_as_if_one_order_after_another(
    server: Harness, http: ClientSession
) -> None:
    _, first = await post(http, "/api/v1/orders", order("C-0", "alice"))
    await consent(server, server.user(501), first["link"])
    server.clock.advance(days=60)  # past the survey's cooldown
    batch = {"orders": [order("C-1", "alice"), order("C-2", "alice"), order("C-3", "new")]}
    _, body = await post(http, "/api/v1/orders/batch", batch)

    journeys = [r["journey"] for r in body["orders"]]
    assert journeys == [Journey.SCHEDULED, Journey.COOLDOWN, Journey.AWAITING_LINK]
    assert body["orders"][0]["first_wave_at"] is not None
    started = await server.scalar(
        select(func.count()).where(Order.journey_started_at.is_not(None))
    )
    assert started == 2  # C-0's journey and C-1's


async def test_a_batch_with_a_bad_order_stores_nothing(
    server: Harness, http: ClientSession, clock: FakeClock
) -> None:
    future = (clock.now + timedelta(days=3)).isoformat()
    bad_field = {"orders": [order("B-1"), order("B-2", ""), order("B-3")]}
    status, body = await post(http, "/api/v1/orders/batch", bad_field)
    assert status == 422 and [e["field"] for e in body["errors"]] == ["orders[1].customer_ref"]

    refused = {"orders": [order("B-1"), order("B-2"), order("B-3", purchased_at=future)]}
    status, body = await post(http, "/api/v1/orders/batch", refused)
    assert status == 422 and body["errors"][0]["field"] == "orders[2].purchased_at"

    status, body = await post(http, "/api/v1/orders/batch", {"orders": []})
    assert status == 422 and body["errors"][0]["field"] == "orders"
    assert await server.count(Order) == 0


# -- report ----------------------------------------------------------------------------------


async def test_the_report_json_has_the_reports_figures(
    server: Harness, http: ClientSession
) -> None:
    for user_id, ref, stars in ((501, "alice", "4 ⭐"), (502, "bob", "2 ⭐")):
        await answered_first_question(server, http, server.user(user_id), ref, stars)
    today = server.clock.now.date()
    query = f"?from={today - timedelta(days=6)}&to={today}&segment=&locale=en"

    async with http.get("/api/v1/report" + query, headers=AUTH) as response:
        assert response.status == 200
        body = await response.json()
    async with server.session() as session:
        period = Period(today - timedelta(days=6), today + timedelta(days=1))
        expected = await build_report(
            session, server.app.survey, period, server.clock.now, None, "en"
        )

    assert body["period"] == {"from": str(period.start), "to": str(today), "days": 7}
    assert body["answers"] == expected.answers > 0
    assert body["response_rates"] == {
        wave: {"answered": a, "sent": s, "rate": a / s if s else None}
        for wave, (a, s) in expected.response_rates.items()
    }
    awareness = next(row for row in expected.stages if row.stage.id == "awareness")
    got = next(row for row in body["stages"] if row["stage"]["id"] == "awareness")
    figures = awareness.stage.figures
    assert got["stage"]["figures"]["ratings"] == figures.ratings == 2
    assert got["stage"]["figures"]["average_rating"] == figures.average_rating == 3.0
    assert got["stage"]["figures"]["csat"] == figures.csat
    assert got["stage"]["flag"] == {
        "level": awareness.stage.flag.level,
        "reasons": list(awareness.stage.flag.reasons),
    }
    assert [tp["id"] for tp in got["touchpoints"]] == [tp.id for tp in awareness.touchpoints]
    assert [p["stage"] for p in body["priorities"]["stages"]] == [
        p.stage for p in expected.priorities.stages
    ]
    assert body["priorities"]["journeys"] == expected.priorities.journeys
    rating = awareness.stage.estimates.get("rating")
    if rating is not None:
        low, high = rating.interval()
        assert got["stage"]["estimates"]["rating"] == {
            "customers": rating.n, "mean": rating.mean, "estimate": rating.posterior,
            "low": low, "high": high,
        }  # fmt: skip


async def test_the_report_json_says_where_customers_drop_out(
    server: Harness, http: ClientSession
) -> None:
    for user_id, ref, stars in ((501, "alice", "4 ⭐"), (502, "bob", "2 ⭐")):
        await answered_first_question(server, http, server.user(user_id), ref, stars)

    async with http.get("/api/v1/report?days=7&locale=en", headers=AUTH) as response:
        assert response.status == 200
        body = await response.json()

    survey = server.app.survey
    first = survey.waves[0]
    (wave,) = body["funnel"]  # only the first wave was sent
    questions = wave.pop("questions")
    assert wave == {
        "wave_id": first.id, "name": survey.text(first.title or {"en": "?"}, "en"),
        "sent": 2, "delivered": 2, "failed": 0, "unknown": 0, "opened": 2, "completed": 0,
        "expired": 0, "cancelled": 0, "open": 2, "drop_out": None,
    }  # fmt: skip
    assert [q["id"] for q in questions] == [q.id for q in first.questions]
    shown = [(q["reached"], q["answered"], q["stopped"], q["waiting"]) for q in questions]
    assert shown[:3] == [(2, 2, 0, 0), (2, 2, 0, 0), (2, 0, 0, 2)]
    assert all(counts == (0, 0, 0, 0) for counts in shown[3:])
    assert questions[0]["text"] == survey.text(first.questions[0].text, "en")
    assert questions[0]["stop_share"] == 0.0 and questions[0]["stop_low"] == 0.0
    assert 0.5 < questions[0]["stop_high"] < 1
    assert questions[2]["stop_share"] is None and questions[2]["stop_low"] is None
    assert [q["follow_up"] for q in questions] == [q.ask_if is not None for q in first.questions]


async def answered_first_question(
    h: Harness, http: ClientSession, user: TgUser, ref: str, stars: str
) -> None:
    _, created = await post(http, "/api/v1/orders", order(f"R-{ref}", ref))
    await consent(h, user, created["link"])
    h.clock.advance(hours=2, minutes=1)
    await h.drain()
    await h.click(user, h.last_to(user), "From friends or family")
    await h.click(user, h.last_to(user), stars)


@pytest.mark.parametrize(
    ("query", "field"),
    [("?days=0", "days"), ("?from=2026-11-30&to=2026-11-01", "from"), ("?from=x", "from"),
     ("?locale=de", "locale"), ("?week=1", "week"), ("?week=", "week"),
     ("?segment=a&segment=b", "segment"), ("?days=1.0", "days"),
     ("?from=2026-11-01T00:00", "from"), ("?to=1999-01-01", "to")],
)  # fmt: skip
async def test_report_parameters_are_checked(
    server: Harness, http: ClientSession, query: str, field: str
) -> None:
    async with http.get("/api/v1/report" + query, headers=AUTH) as response:
        assert response.status == 422
        assert (await response.json())["errors"][0]["field"] == field


# -- health and metrics -------------------------------------------------------------------


async def test_healthz_is_ok_while_everything_works(server: Harness, http: ClientSession) -> None:
    server.app.scheduler.start()
    async with http.get("/healthz") as response:
        body = await response.json()
    assert response.status == 200, body
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["scheduler"]["ok"] and body["telegram"]["ok"]
    assert body["telegram"]["last_success_at"] is not None


async def test_healthz_names_what_is_failing(server: Harness, http: ClientSession) -> None:
    async with http.get("/healthz") as response:  # the timer was never started
        body = await response.json()
    assert response.status == 503
    assert body["scheduler"] == {"ok": False, "detail": "the scheduler is not running"}
    assert body["database"]["ok"] is True


async def test_healthz_when_the_database_is_gone(
    api: FakeBotAPI, database_url: str, clock: FakeClock, tmp_path: Any
) -> None:
    gone = (
        f"sqlite+aiosqlite:///{tmp_path}/missing/dir/cjm.db"
        if database_url.startswith("sqlite")
        else "postgresql+asyncpg://127.0.0.1:1/gone"
    )
    settings = settings_for(api, gone, bot_username="cjm_test_bot", http_port=0)
    app = await build_app(settings, clock=clock, migrate=False)
    try:
        app.scheduler.start()
        await app.http.start()
        async with ClientSession(base_url=app.http.url) as http:
            async with http.get("/healthz") as r:
                body = await r.json()
            async with http.get("/metrics") as scraped:  # still scraped, the lag unknown
                assert scraped.status == 200
                assert math.isnan(parse(await scraped.text())["cjm_send_queue_lag_seconds"])
    finally:
        await app.close()
    assert r.status == 503 and body["status"] == "failing"
    assert body["database"]["ok"] is False and body["database"]["detail"]
    assert body["scheduler"]["ok"] is True


def test_telegram_fails_the_health_check_only_after_minutes_without_success() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    recent = TelegramState(now - timedelta(minutes=1), now - timedelta(seconds=5), "5xx")
    stale = TelegramState(now - timedelta(minutes=6), now - timedelta(seconds=5), "5xx")
    never = TelegramState(None, now, "getMe: network: connection refused")

    assert telegram_check(recent, now).ok and telegram_check(TelegramState(), now).ok
    assert telegram_check(recent, now).detail == "the last call failed"
    assert not telegram_check(stale, now).ok and "5xx" in telegram_check(stale, now).detail
    assert not telegram_check(never, now).ok


async def test_metrics_count_orders_waves_answers_and_telegram_errors(
    server: Harness, http: ClientSession
) -> None:
    await answered_first_question(server, http, server.user(501), "alice", "4 ⭐")
    await post(http, "/api/v1/orders", order("R-alice", "alice"))  # known
    _, bobs = await post(http, "/api/v1/orders", order("M-2", "bob"))
    await consent(server, server.user(502), bobs["link"])
    server.clock.advance(hours=2, minutes=1)
    server.api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    await server.drain()

    async with http.get("/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    samples = parse(text)
    assert samples['cjm_api_orders_total{result="created"}'] == 2
    assert samples['cjm_api_orders_total{result="known"}'] == 1
    assert samples['cjm_waves_total{outcome="sent"}'] == 1
    assert samples['cjm_waves_total{outcome="unreachable"}'] == 1
    assert samples['cjm_telegram_errors_total{code="403",kind="Unreachable"}'] == 1
    assert samples["cjm_answers_stored_total"] == 2
    assert samples['cjm_updates_total{outcome="handled"}'] >= 4
    assert samples["cjm_send_queue_lag_seconds"] == 0
    assert samples["cjm_telegram_last_success_timestamp_seconds"] > 0
    assert samples["cjm_waves_unknown"] == 0


async def test_metrics_show_the_waves_whose_send_is_unknown(
    server: Harness, http: ClientSession
) -> None:
    for user_id, ref in ((503, "carol"), (504, "dan")):
        _, created = await post(http, "/api/v1/orders", order(f"U-{ref}", ref))
        await consent(server, server.user(user_id), created["link"])
    server.clock.advance(hours=2, minutes=1)
    server.api.fail_after_next("sendMessage", 500, "Internal Server Error", times=2)
    await server.drain()

    async with http.get("/metrics") as response:
        samples = parse(await response.text())
    assert samples["cjm_waves_unknown"] == 2
    assert samples['cjm_waves_total{outcome="unknown"}'] == 2


def parse(text: str) -> dict[str, float]:
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


async def test_the_queue_lag_is_the_oldest_due_waves_wait(
    server: Harness, http: ClientSession
) -> None:
    alice = server.user(501)
    _, created = await post(http, "/api/v1/orders", order("L-1", "alice"))
    await consent(server, alice, created["link"])
    due = await server.scalar(select(func.min(Dispatch.due_at)))
    server.clock.now = due + timedelta(seconds=90)
    async with http.get("/metrics") as response:
        samples = parse(await response.text())
    assert samples["cjm_send_queue_lag_seconds"] == 90


async def test_the_openapi_document_lists_every_route(
    server: Harness, http: ClientSession
) -> None:
    async with http.get("/api/v1/openapi.json") as response:
        document = await response.json()
    assert document["openapi"].startswith("3.1")
    routes = {
        (route.method.lower(), route.resource.canonical)
        for route in server.app.http.app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    documented = {(m, path) for path, item in document["paths"].items() for m in item}
    assert routes == documented
    assert json.dumps(document)  # serialisable as served
