"""One rule for a customer's reference, wherever an order comes from: `/order`, `cjm order
add`, the HTTP API. A phone may be typed with spaces, dashes and brackets and is kept as
its digits, so it is the same customer however it was written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession
from sqlalchemy import select

from bot.cli import main
from bot.routers.staff import order_args
from storage.models import Customer, Order
from surveys.journeys import OrderRejected, customer_ref
from tests.flows import LINK
from tests.support.clock import FakeClock
from tests.support.fake_bot_api import FakeBotAPI
from tests.support.harness import Harness

KEY = "test-key-0123456789"


@pytest.fixture
async def api_harness(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> AsyncIterator[Harness]:
    async with Harness(api, database_url, clock, api_key=KEY) as running:
        yield running


@pytest.mark.parametrize(
    ("typed", "ref"),
    [
        ("+7 999 123-45-67", "+79991234567"),
        ("+7 (999) 123 45 67", "+79991234567"),
        ("8-999-123-45-67", "89991234567"),
        ("+44 20 7946 0958", "+442079460958"),
        ("  card-0042  ", "card-0042"),
        ("4711-12", "4711-12"),  # too few digits for a phone: kept as typed
        ("ИВАН-77", "ИВАН-77"),
    ],
)
def test_the_rule(typed: str, ref: str) -> None:
    assert customer_ref(typed) == ref


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "customer_ref: must not be empty"),
        ("ivan petrov", "customer_ref: one word, or a phone number (spaces and dashes are "
         "fine there)"),
        ("x" * 129, "customer_ref: at most 128 characters"),
    ],
)  # fmt: skip
def test_what_the_rule_refuses(typed: str, reason: str) -> None:
    with pytest.raises(OrderRejected) as refused:
        customer_ref(typed)
    assert str(refused.value) == reason


@pytest.mark.parametrize(
    ("args", "parsed"),
    [
        ("+7 999 123-45-67", ("+7 999 123-45-67", None)),
        ("+7 999 123-45-67 downtown", ("+7 999 123-45-67", "downtown")),
        ("8 (999) 123 45 67 5", ("8 (999) 123 45 67", "5")),
        ("89991234567 5", ("89991234567", "5")),
        ("4711 12", ("4711", "12")),
        ("alice downtown", ("alice", "downtown")),
        ("a b c", None),
        ("", None),
    ],
)
def test_order_arguments(args: str, parsed: tuple[str, str | None] | None) -> None:
    assert order_args(args) == parsed


async def test_a_phone_with_spaces_is_one_customer_from_the_bot_the_cli_and_the_api(
    api_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = api_harness
    await harness.send(harness.staff, "/order +7 999 123-45-67 downtown")

    caption = harness.api.last("sendPhoto").params["caption"]
    link = LINK.search(caption)
    assert link is not None
    assert caption.startswith(
        "Order registered for +79991234567. Show this QR code to the customer, or send them "
        "the link (valid until "
    )

    monkeypatch.setenv("CJM_DATABASE_URL", harness.settings.database_url)
    monkeypatch.setenv("CJM_BOT_USERNAME", "cjm_test_bot")
    assert await asyncio.to_thread(main, ["order", "add", "+7 (999) 123 45 67"]) == 0

    async with ClientSession(base_url=harness.app.http.url) as http:
        body = {"external_id": "CRM-1", "customer_ref": "+7-999-123-45-67"}
        headers = {"Authorization": f"Bearer {KEY}"}
        async with http.post("/api/v1/orders", json=body, headers=headers) as response:
            assert response.status == 201, await response.text()
            assert (await response.json())["customer_ref"] == "+79991234567"
        body = {"external_id": "CRM-2", "customer_ref": "ivan petrov"}
        async with http.post("/api/v1/orders", json=body, headers=headers) as response:
            assert response.status == 422
            assert await response.json() == {
                "errors": [
                    {
                        "field": "customer_ref",
                        "message": "one word, or a phone number (spaces and dashes are fine "
                        "there)",
                    }
                ]
            }

    assert [ref for (ref,) in await harness.rows(select(Customer.ref))] == ["+79991234567"]
    assert await harness.count(Order) == 3


async def test_an_unusable_reference_is_explained_to_staff(harness: Harness) -> None:
    await harness.send(harness.staff, "/order " + "7" * 130)
    await harness.send(harness.user(100, language="ru"), "/order alice " + "ц" * 65)

    assert harness.api.sent_texts(100) == [
        f"Order not registered: “{'7' * 130}” is not a customer reference. Give one word (a "
        "card number, a CRM id) or a phone number, e.g. /order +7 999 123-45-67 downtown",
        "Заказ не зарегистрирован: сегмент — не длиннее 64 символов.",
    ]
    assert await harness.count(Order) == 0
