"""What a failed Bot API call means for delivery (SPEC §4 "Delivery semantics")."""

from __future__ import annotations

import asyncio

from aiogram.exceptions import (
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
from aiohttp import ClientConnectorError, ConnectionTimeoutError

from surveys.messenger import (
    MaybeDelivered,
    NotDelivered,
    Outage,
    Rejected,
    RetryAfter,
    SendError,
    Unreachable,
)

# Failures before the request could have been written: nothing reached Telegram.
_NEVER_SENT = (ClientConnectorError, ConnectionTimeoutError, ConnectionRefusedError)


def classify(error: TelegramAPIError | TelegramNetworkError | Exception) -> SendError:
    if isinstance(error, TelegramRetryAfter):
        return RetryAfter(float(error.retry_after))
    if isinstance(error, TelegramForbiddenError):
        return Unreachable(f"403: {error.message}")
    if isinstance(error, (TelegramUnauthorizedError, TelegramNotFound)):
        return Outage(f"the Bot API refuses this bot: {error.message}")
    if isinstance(error, (TelegramServerError, RestartingTelegram)):
        return NotDelivered(f"5xx: {error.message}")
    if isinstance(error, TelegramNetworkError):
        cause = error.__cause__
        if isinstance(cause, _NEVER_SENT):
            return NotDelivered(f"connection failed: {error.message}")
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
