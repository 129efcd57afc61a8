"""Webhook mode (CJM_WEBHOOK_URL): `cjm run` registers the webhook with its secret and
serves updates on its own HTTP server; a request without the right secret header is
refused, and a delivery repeated by Telegram is processed once. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.settings import SettingsError, load_settings
from tests.support.clock import FakeClock
from tests.support.fake_bot_api import FakeBotAPI, make_message_update
from tests.support.harness import Harness

SECRET = "s3cret-Token_1"
URL = "https://bot.example.com/tg/updates"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture
async def bot(api: FakeBotAPI, database_url: str, clock: FakeClock) -> AsyncIterator[Harness]:
    async with Harness(
        api, database_url, clock, webhook_url=URL, webhook_secret=SECRET
    ) as harness:
        yield harness


async def post(harness: Harness, update: dict[str, Any], secret: str | None) -> int:
    headers = {HEADER: secret} if secret is not None else {}
    async with (
        aiohttp.ClientSession() as client,
        client.post(f"{harness.app.http.url}/tg/updates", json=update, headers=headers) as r,
    ):
        return r.status


async def test_the_webhook_is_registered_with_its_secret(bot: Harness, api: FakeBotAPI) -> None:
    call = api.last("setWebhook")
    assert call.params["url"] == URL
    assert call.params["secret_token"] == SECRET
    assert "message" in call.params["allowed_updates"]
    assert "callback_query" in call.params["allowed_updates"]
    assert api.webhook_url == URL
    assert not api.calls_of("deleteWebhook")  # that would undo it
    assert not api.calls_of("getUpdates")  # no polling beside the webhook


async def test_requests_without_the_secret_are_refused(bot: Harness, api: FakeBotAPI) -> None:
    user = bot.user(501)
    assert await post(bot, make_message_update(user, "/help"), None) == 401
    assert await post(bot, make_message_update(user, "/help"), "wrong") == 401
    assert api.sent_texts(501) == []


async def test_an_update_is_handled_and_a_repeated_delivery_only_once(
    bot: Harness, api: FakeBotAPI
) -> None:
    user = bot.user(502)
    update = make_message_update(user, "/help")
    assert await post(bot, update, SECRET) == 200
    assert len(api.sent_texts(502)) == 1
    assert "/stop" in api.sent_texts(502)[0]
    # Telegram delivers again when it did not see our answer in time: same update_id.
    assert await post(bot, update, SECRET) == 200
    assert len(api.sent_texts(502)) == 1


def test_webhook_settings_are_checked() -> None:
    with pytest.raises(SettingsError, match="CJM_WEBHOOK_SECRET must be set"):
        load_settings(_env_file=None, webhook_url=URL)
    with pytest.raises(SettingsError, match="CJM_WEBHOOK_URL: expected the public https"):
        load_settings(_env_file=None, webhook_url="bot.example.com", webhook_secret=SECRET)
    with pytest.raises(SettingsError, match="CJM_WEBHOOK_SECRET: 1-256 characters") as error:
        load_settings(_env_file=None, webhook_url=URL, webhook_secret="has spaces")
    assert "has spaces" not in str(error.value)  # a secret is never echoed
    assert load_settings(_env_file=None, webhook_url=URL, webhook_secret=SECRET).webhook_url
