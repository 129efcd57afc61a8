"""What the bot tells the operator: every Bot API call's outcome, seen from the session
(one middleware sees sends, edits, callback answers and getUpdates alike)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

from bot.telegram_errors import classify, not_modified

_CODES: tuple[tuple[type[TelegramAPIError], str], ...] = (
    (TelegramRetryAfter, "429"),
    (TelegramEntityTooLarge, "413"),
    (TelegramNetworkError, "network"),
    (TelegramForbiddenError, "403"),
    (TelegramBadRequest, "400"),
    (TelegramUnauthorizedError, "401"),
    (TelegramNotFound, "404"),
    (TelegramConflictError, "409"),
    (TelegramServerError, "5xx"),
)


# Failures that mean Telegram gave no answer of its own: the Bot API is unreachable.
_NO_ANSWER = (TelegramNetworkError, TelegramServerError, ClientDecodeError, TimeoutError)


def error_code(error: Exception) -> str:
    """The Bot API's error code ("network": no answer at all)."""
    for kind, code in _CODES:
        if isinstance(error, kind):
            return code
    return "timeout" if isinstance(error, TimeoutError) else "other"


class TelegramWatch(BaseRequestMiddleware):
    """Remembers when a call last succeeded and last failed, and reports each failure by
    its code and by what it means for delivery (bot.telegram_errors.classify)."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        on_success: Callable[[datetime], None],
        on_error: Callable[[str, str], None],
    ) -> None:
        self.clock = clock
        self.on_success = on_success
        self.on_error = on_error
        self.last_success_at: datetime | None = None
        self.last_failure_at: datetime | None = None
        self.last_failure: str | None = None
        self.unreachable_since: datetime | None = None  # see api.health
        self.unreachable_calls = 0

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        try:
            response = await make_request(bot, method)
        except Exception as error:
            self._failed(method, error)
            raise
        self.last_success_at = self.clock()
        self.on_success(self.last_success_at)
        self._reachable()
        return response

    def _reachable(self) -> None:
        self.unreachable_since = None
        self.unreachable_calls = 0

    def _failed(self, method: TelegramMethod[Any], error: Exception) -> None:
        if not_modified(error):  # Telegram answered: the message already says that
            self.last_success_at = self.clock()
            self._reachable()
            return
        code = error_code(error)
        if isinstance(error, _NO_ANSWER):
            self.unreachable_since = self.unreachable_since or self.clock()
            self.unreachable_calls += 1
        else:  # Telegram answered (a 400, 403, 429...): it is there
            self._reachable()
        self.on_error(code, type(classify(error)).__name__)
        self.last_failure_at = self.clock()
        self.last_failure = f"{method.__api_method__}: {code}: {error}"[:300]
