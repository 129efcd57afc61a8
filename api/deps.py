"""What the handlers share: their dependencies, the key check, reading and writing JSON."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.errors import ApiError, too_large
from api.metrics import Metrics
from surveys.journeys import Journeys
from surveys.model import Survey

# A batch of 1,000 orders with every field at its longest is about 450 KB.
MAX_BODY = 1024 * 1024
Clock = Callable[[], datetime]
SchedulerProbe = Callable[[], str | None]  # what is wrong with the scheduler, None if fine


@dataclass(frozen=True, slots=True)
class TelegramState:
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_failure: str | None = None
    # The current streak of calls that got no answer from Telegram at all (network,
    # timeout, 5xx, a gateway's page): when it began and how many calls it has.
    unreachable_since: datetime | None = None
    unreachable_calls: int = 0


@dataclass(frozen=True, slots=True)
class UpdatesState:
    """How this process gets its updates: it polls (holding the poller lease), stands by
    while another process polls, or Telegram posts them (webhook)."""

    mode: Literal["polling", "standby", "webhook"] = "webhook"
    ok: bool = True
    detail: str = "webhook mode: Telegram posts updates to CJM_WEBHOOK_URL"


@dataclass(frozen=True)
class ApiDeps:
    sessions: async_sessionmaker[AsyncSession]
    survey: Survey
    journeys: Journeys
    clock: Clock
    deep_link: Callable[[str], str]
    api_key: str | None
    metrics: Metrics
    scheduler: SchedulerProbe
    telegram: Callable[[], TelegramState]
    updates: Callable[[], UpdatesState] = UpdatesState
    # SQLite has one writer at a time and makes the others sleep and poll for the lock
    # (up to 100 ms a try): queueing the API's writers here instead keeps the tail short.
    writes: AbstractAsyncContextManager[Any] = field(default_factory=nullcontext)


DEPS = web.AppKey("deps", ApiDeps)


def deps_of(request: web.Request) -> ApiDeps:
    return request.app[DEPS]


def authorize(request: web.Request) -> ApiDeps:
    """The bearer key, compared in constant time; 503 while no key is configured."""
    deps = deps_of(request)
    if not deps.api_key:
        raise ApiError.one(
            503, "CJM_API_KEY is not set: the orders and report API is off until it is"
        )
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise ApiError.one(
            401, "send the API key as 'Authorization: Bearer <CJM_API_KEY>'",
            headers={"WWW-Authenticate": 'Bearer realm="cjm"'},
        )  # fmt: skip
    if not hmac.compare_digest(given.strip().encode(), deps.api_key.encode()):
        raise ApiError.one(
            401, "wrong API key",
            headers={"WWW-Authenticate": 'Bearer realm="cjm", error="invalid_token"'},
        )  # fmt: skip
    return deps


async def json_body(request: web.Request) -> bytes:
    if request.content_type != "application/json":
        raise ApiError.one(415, "send the body as JSON with Content-Type: application/json")
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise too_large(request)
    body = await request.read()
    if not body.strip():
        raise ApiError.one(400, "the body is empty; send a JSON object")
    return body


def json_response(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(text=model.model_dump_json(by_alias=True), status=status)
