"""Webhook mode (CJM_WEBHOOK_URL): Telegram POSTs each update to our HTTP server.

Needed for several processes, since Telegram allows one long-polling consumer per token
but any number of servers behind a webhook's load balancer. The request is answered
only after the update's transaction has committed (aiogram's handler with
`handle_in_background=False`), so an update whose processing failed is delivered again;
a delivery repeated after a commit is recognised by its update_id and ignored
(bot.middlewares, processed_updates). A request without the right
X-Telegram-Bot-Api-Secret-Token header is refused with 401, a body that is not an
update with 400, and an update that could not be stored (the database locked or down
for longer than the middleware's patience) with 503, so that Telegram delivers it again.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from pydantic import ValidationError

from bot.middlewares import UpdateNotStored
from bot.settings import Settings

log = logging.getLogger(__name__)


def webhook_path(url: str) -> str:
    """The path our server answers on: the webhook URL's (a proxy may sit in front)."""
    return urlsplit(url).path or "/"


class UpdateHandler(SimpleRequestHandler):
    """aiogram's handler, answering 4xx for what is not an update (instead of a 500) and
    503 for an update that was not stored."""

    async def _handle_request(self, bot: Bot, request: web.Request) -> web.Response:
        try:
            raw = await request.json(loads=bot.session.json_loads)
        except ValueError:  # also a body that is not UTF-8
            return web.Response(status=400, text="the body is not JSON")
        if not isinstance(raw, dict):
            return web.Response(status=400, text="the body is not a Telegram update")
        try:
            update = Update.model_validate(raw, context={"bot": bot})
        except ValidationError as error:
            log.warning("webhook: not an update (%d errors)", error.error_count())
            return web.Response(status=400, text="the body is not a Telegram update")
        try:
            result: TelegramMethod[Any] | None = await self.dispatcher.feed_webhook_update(
                bot, update, **self.data
            )
        except UpdateNotStored:
            return web.Response(
                status=503, text="not stored: deliver again", headers={"Retry-After": "5"}
            )
        return web.Response(body=self._build_response_writer(bot=bot, result=result))


def webhook_route(settings: Settings, dp: Dispatcher, bot: Bot) -> web.RouteDef:
    assert settings.webhook_url is not None and settings.webhook_secret is not None
    handler = UpdateHandler(
        dispatcher=dp,
        bot=bot,
        handle_in_background=False,
        secret_token=settings.webhook_secret.get_secret_value(),
    )
    return web.post(webhook_path(settings.webhook_url), handler.handle)


async def register(settings: Settings, dp: Dispatcher, bot: Bot) -> None:
    """Point Telegram at our URL, with the secret it will send back in every request."""
    assert settings.webhook_url is not None and settings.webhook_secret is not None
    await bot.set_webhook(
        url=settings.webhook_url,
        secret_token=settings.webhook_secret.get_secret_value(),
        allowed_updates=dp.resolve_used_update_types(),
        drop_pending_updates=False,
    )
    log.info("webhook registered at %s", settings.webhook_url)
