"""What a failed Bot API call means for delivery (SPEC §4 "Delivery semantics").

The one place that decides, for the outbox, the replies to updates, alerts and reports,
whether a failed request was *surely not performed* (resend it), *unknown* (a request
fully written whose answer was lost: never resent by itself), or refused by Telegram.

Where aiohttp (under aiogram's session) raises what:
- connecting: `ClientConnectorError` (refused, DNS: `ClientConnectorDNSError`, TLS) or
  `ConnectionTimeoutError` — nothing was written;
- writing the request: a pooled connection found closing raises
  `ClientConnectionResetError("Cannot write to closing transport")` before a byte is
  written; a body write that fails becomes `ClientOSError("Can not write request body …")`
  or `ClientConnectionError("Failed to send bytes …")` — an incomplete request, which no
  server acts on;
- reading the answer: `ServerDisconnectedError`, `ClientOSError` (reset),
  `ClientPayloadError` or the read timeout — the request was written and may have been
  performed: *unknown*.
A gateway's answer (502/503/504, or a body that is not JSON, such as a proxy's HTML
page) comes from something in front of the Bot API, which did nothing.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import (
    ClientDecodeError,
    RestartingTelegram,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response
from aiohttp import (
    ClientConnectionError,
    ClientConnectionResetError,
    ClientConnectorError,
    ClientOSError,
    ConnectionTimeoutError,
)

from surveys.messenger import (
    MaybeDelivered,
    NotDelivered,
    Outage,
    Rejected,
    RetryAfter,
    SendError,
    Unavailable,
    Unreachable,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

GATEWAY_CODES = frozenset({502, 503, 504})
_GATEWAY_WORDS = ("bad gateway", "service unavailable", "gateway timeout", "gateway time-out")
# Raised while connecting: nothing reached the Bot API.
_NOT_CONNECTED = (ClientConnectorError, ConnectionTimeoutError, ConnectionRefusedError)
# Raised while writing: the request never reached the server whole.
_UNWRITTEN = ("Cannot write to closing transport", "Can not write request body",
              "Failed to send bytes")  # fmt: skip


class TelegramSession(AiohttpSession):
    """aiogram's session, keeping the HTTP status of a 5xx or an undecodable answer on the
    exception (aiogram drops it), so that a gateway's 502 is told from a 500."""

    def check_response(
        self, bot: Bot, method: TelegramMethod[Any], status_code: int, content: str
    ) -> Response[Any]:
        try:
            return super().check_response(bot, method, status_code, content)
        except (TelegramServerError, ClientDecodeError) as error:
            error.status_code = status_code  # type: ignore[union-attr]
            raise


def _status(error: Exception) -> int | None:
    status = getattr(error, "status_code", None)
    return status if isinstance(status, int) else None


def _unwritten(cause: BaseException | None) -> bool:
    if isinstance(cause, _NOT_CONNECTED):
        return True
    if isinstance(cause, (ClientConnectionResetError, ClientOSError, ClientConnectionError)):
        return any(str(cause).startswith(words) for words in _UNWRITTEN)
    return False


def classify(error: TelegramAPIError | TelegramNetworkError | Exception) -> SendError:
    if isinstance(error, TelegramRetryAfter):
        return RetryAfter(float(error.retry_after))
    if isinstance(error, TelegramForbiddenError):
        return Unreachable(f"403: {error.message}")
    if isinstance(error, (TelegramUnauthorizedError, TelegramNotFound)):
        return Outage(f"the Bot API refuses this bot: {error.message}")
    if isinstance(error, RestartingTelegram):
        return Unavailable(f"the Bot API is restarting: {error.message}")
    if isinstance(error, TelegramServerError):
        status = _status(error)
        gateway = status in GATEWAY_CODES or (
            status is None and error.message.lower().startswith(_GATEWAY_WORDS)
        )
        if gateway:
            return Unavailable(f"gateway error {status or '5xx'}: {error.message}")
        return MaybeDelivered(f"{status or '5xx'} after the request was sent: {error.message}")
    if isinstance(error, ClientDecodeError):
        status = _status(error)
        code = f" {status}" if status else ""
        return Unavailable(f"gateway error{code}: the answer is not JSON")
    if isinstance(error, TelegramNetworkError):
        if _unwritten(error.__cause__):
            return Unavailable(f"connection failed: {error.message}")
        return MaybeDelivered(f"no response: {error.message}")
    if isinstance(error, TelegramBadRequest):
        return Rejected(f"400: {error.message}")
    if isinstance(error, TelegramAPIError):
        return Rejected(f"{type(error).__name__}: {error.message}")
    if isinstance(error, asyncio.TimeoutError):
        return MaybeDelivered("no response: timeout")
    return MaybeDelivered(f"{type(error).__name__}: {error}")


def not_modified(error: Exception) -> bool:
    """Editing a message to what it already says is a success, not an error."""
    return isinstance(error, TelegramBadRequest) and "message is not modified" in error.message


def jittered(seconds: float) -> float:
    """A delay ±25 %, so that processes and messages retrying together spread out."""
    return seconds * random.uniform(0.75, 1.25)


async def retrying(
    call: Callable[[], Awaitable[T]],
    tries: int = 3,
    first_delay: float = 0.5,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Make one Bot API call, again after a surely-not-performed failure (backoff with
    jitter, a 429's retry_after honoured), at most `tries` times. Raises the classified
    `SendError` of the last failure; an unknown or refused one is never repeated."""
    delay = first_delay
    for attempt in range(1, tries + 1):
        try:
            return await call()
        except (TelegramAPIError, TelegramNetworkError, ClientDecodeError, TimeoutError) as error:
            failure = classify(error)
            if attempt == tries or not isinstance(failure, (NotDelivered, RetryAfter)):
                raise failure from error
            wait = failure.seconds if isinstance(failure, RetryAfter) else jittered(delay)
            log.info("Bot API call not performed (%s): again in %.1f s", failure.reason, wait)
            await sleep(wait)
            delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover
