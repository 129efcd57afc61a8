"""aiogram's polling loop, made to poll only while this process holds the poller lease
and to wait out a 409 Conflict instead of spinning on it.

aiogram's `Dispatcher._listen_updates` catches every error of getUpdates, logs it and
tries again after 1 to 5 s: two pollers would fight every few seconds forever. This
session middleware sees each getUpdates first (the public hook for every Bot API call):
it waits until the lease is held, cuts a long poll short when the lease is lost, and on
409 waits 2 s, 4 s, … up to a minute and tries again itself, so aiogram sees neither."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramConflictError
from aiogram.methods import GetUpdates, Response, TelegramMethod
from aiogram.methods.base import TelegramType

from bot.poll_lease import PollLease

log = logging.getLogger(__name__)
FIRST_PAUSE = 2.0  # seconds after the first 409; doubled after each
LAST_PAUSE = 60.0
Sleep = Callable[[float], Awaitable[None]]


class PollingGate(BaseRequestMiddleware):
    def __init__(
        self,
        lease: PollLease,
        clock: Callable[[], datetime],
        on_conflict: Callable[[], None] = lambda: None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.lease = lease
        self.clock = clock
        self.on_conflict = on_conflict
        self.sleep = sleep
        self.conflicts = 0  # the current streak of 409s
        self.conflict_since: datetime | None = None
        self.conflict: str | None = None  # Telegram's words for the last one

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        polls = isinstance(method, GetUpdates)  # (not narrowed: make_request takes any)
        if not polls:
            return await make_request(bot, method)
        while True:
            await self.lease.wait_held()
            try:
                response = await self._while_held(make_request(bot, method))
            except TelegramConflictError as error:
                await self.sleep(self._conflicted(error))
                continue
            if response is not None:
                self._resolved()
                return response

    async def _while_held(
        self, request: Coroutine[Any, Any, Response[TelegramType]]
    ) -> Response[TelegramType] | None:
        """The request's response, or None when the lease was lost first (the request is
        cancelled: its updates come again to whoever polls next, as unconfirmed)."""
        call = asyncio.ensure_future(request)
        lost = asyncio.ensure_future(self.lease.wait_lost())
        try:
            await asyncio.wait({call, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            if not call.done():
                call.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await call
        return None if call.cancelled() else call.result()

    def _conflicted(self, error: TelegramConflictError) -> float:
        """Counts the 409, logs the first of a streak, and says how long to wait."""
        self.on_conflict()
        self.conflicts += 1
        self.conflict = error.message
        pause = min(FIRST_PAUSE * (1 << min(self.conflicts - 1, 8)), LAST_PAUSE)
        if self.conflicts == 1:
            self.conflict_since = self.clock()
            log.error(
                "Telegram refuses to let this process poll for %s (409 Conflict: %s). Another "
                "program is polling with this bot's token (an old deployment or a copy using "
                "another database), or a webhook is set. Processes sharing this database "
                "take turns by themselves; stop the other program, or give it a token of "
                "its own. Trying again in %g s, then less and less often (up to every %g s)",
                self.lease.bot_name, error.message, pause, LAST_PAUSE,
            )  # fmt: skip
        return pause * random.uniform(0.9, 1.1)  # jitter: processes restarted together part

    def _resolved(self) -> None:
        if self.conflicts:
            log.info("Polling works again after %d refusals (409 Conflict)", self.conflicts)
        self.conflicts, self.conflict_since, self.conflict = 0, None, None
