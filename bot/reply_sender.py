"""How the replies to an update reach Telegram (SPEC §4 "Delivery semantics").

The next question, a toast, an edit: each goes through the bot's one send-rate limiter
and its 429 pause (the outbox's limiter, shared through Redis when configured), and
through a per-chat pace (Telegram allows about one message a second in one chat, with
short bursts). A failure that surely did nothing at Telegram (429, a gateway's error or
HTML page, a refused or reset-before-write connection) is retried with backoff and jitter;
an edit or a callback answer is also retried when its answer was lost, since repeating
one changes nothing. A message whose request may have arrived is not sent twice: its
wave stays answerable and the customer can ask for the question again (/continue).

Replies that cannot go out within `patience` (a long 429 pause, an outage) are handed
to a background task that keeps trying, so one chat's trouble does not hold up the
updates of everyone else. A question that still does not go out (given up after
`horizon`, dropped at shutdown) or may not have arrived is handed to `ask_again`, which
has the outbox send it later: the wave stays resumable, never a dead end.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    EditMessageCaption,
    EditMessageReplyMarkup,
    EditMessageText,
    TelegramMethod,
)

from bot.telegram_errors import classify, not_modified
from surveys.messenger import MaybeDelivered, NotDelivered, Outage, RetryAfter
from surveys.ratelimit import LocalRateLimiter, RateLimiter

T = TypeVar("T")

log = logging.getLogger(__name__)

OnSent = Callable[[Any], Awaitable[None]]
# (dispatch id, question id): have the outbox ask that question again, if still current
AskAgain = Callable[[int, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Call:
    method: TelegramMethod[Any]
    on_sent: OnSent | None = None
    question: tuple[int, str] | None = None  # (dispatch, question) it asks: again if lost


PATIENCE = 8.0  # seconds an update's replies may take before going to the background
HORIZON = 900.0  # seconds the background keeps trying (a Bot API outage of 15 min)
FIRST_BACKOFF = 0.25
MAX_BACKOFF = 30.0
OUTAGE_PAUSE = 10.0  # 401/404 for the bot itself: the API URL or token is wrong for now
CHAT_RATE = 1.0  # messages a second in one chat, after a burst of CHAT_BURST
CHAT_BURST = 4
SAFE_RATE = 25.0  # the local limiter's rate while the shared one (Redis) does not answer
# A question whose request may have arrived is asked again (as a reminder) this much later
# if the customer has not answered it by then: rather a reminder than a dead end.
MAYBE_ASK_AGAIN = 120.0


# Repeating these changes nothing visible: an edit to the same content is "not modified",
# a second callback answer is refused as too old.
_IDEMPOTENT = (AnswerCallbackQuery, EditMessageText, EditMessageReplyMarkup, EditMessageCaption,
               DeleteMessage)  # fmt: skip


class ReplyFailure(StrEnum):
    """What a failed reply means for trying again."""

    RETRY = "retry"  # surely not performed: try again after a backoff
    PAUSE = "pause"  # 429 (or the API refuses the bot): pause all sending, then again
    MAYBE = "maybe"  # the request may have been performed: only idempotent calls again
    REFUSED = "refused"  # a 4xx about this call: never again
    DONE = "done"  # "message is not modified": it already says that


def reply_failure(error: BaseException) -> ReplyFailure:
    """The reply path's reading of bot.telegram_errors.classify, the one classification
    of send failures (SPEC §4): the same error means the same thing everywhere."""
    if not isinstance(error, Exception):
        return ReplyFailure.REFUSED
    if not_modified(error):
        return ReplyFailure.DONE
    failure = classify(error)
    if isinstance(failure, (RetryAfter, Outage)):
        return ReplyFailure.PAUSE
    if isinstance(failure, NotDelivered):
        return ReplyFailure.RETRY
    if isinstance(failure, MaybeDelivered):
        return ReplyFailure.MAYBE
    return ReplyFailure.REFUSED


class _Outcome(StrEnum):
    DONE = "done"  # made, or refused for good
    MAYBE = "maybe"  # may have been made: not repeated
    LATE = "late"  # not made by the deadline


class ChatPacer:
    """About one message a second per chat (after a short burst), in this process."""

    def __init__(self, rate: float = CHAT_RATE, burst: int = CHAT_BURST) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.tolerance = self.interval * (burst - 1)
        self._tat: dict[int | str, float] = {}

    async def wait(self, chat_id: int | str) -> None:
        if self.interval == 0:
            return
        while True:
            now = time.monotonic()
            tat = max(self._tat.get(chat_id, now), now)
            early = tat - now - self.tolerance
            if early <= 0:
                self._tat[chat_id] = tat + self.interval
                self._forget_idle(now)
                return
            await asyncio.sleep(early)

    def _forget_idle(self, now: float) -> None:
        if len(self._tat) > 4096:
            self._tat = {chat: tat for chat, tat in self._tat.items() if tat > now}


class ReplySender:
    def __init__(
        self,
        limiter: RateLimiter | None = None,
        *,
        patience: float = PATIENCE,
        horizon: float = HORIZON,
        pacer: ChatPacer | None = None,
        ask_again: AskAgain | None = None,
        maybe_ask_again: float = MAYBE_ASK_AGAIN,
    ) -> None:
        self.ask_again = ask_again
        self.maybe_ask_again = maybe_ask_again
        self.limiter = limiter if limiter is not None else LocalRateLimiter(0)
        self.fallback = LocalRateLimiter(SAFE_RATE)
        self.patience = patience
        self.horizon = horizon
        self.pacer = pacer if pacer is not None else ChatPacer()
        # Background tasks and the calls each has still to make (first to last).
        self._background: dict[asyncio.Task[None], list[Call]] = {}
        self._asks: set[asyncio.Task[None]] = set()  # questions to ask again a bit later

    async def send(self, bot: Bot, calls: Sequence[Call]) -> None:
        """Make the calls in order; what is not done within `patience` goes on in the
        background (a later call to the same chat must not overtake an earlier one)."""
        rest = list(calls)
        await self._send(bot, rest, time.monotonic() + self.patience)
        if rest:
            task = asyncio.get_running_loop().create_task(self._later(bot, rest))
            self._background[task] = rest
            task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._background.pop(task, None)

    async def _later(self, bot: Bot, calls: list[Call]) -> None:
        log.warning("%d replies held up: still trying in the background", len(calls))
        await self._send(bot, calls, time.monotonic() + self.horizon)
        for call in calls:
            name = call.method.__api_method__
            log.error("%s not sent within %g s: given up", name, self.horizon)
        await self._lost(calls, 0.0)
        calls.clear()

    async def _send(self, bot: Bot, calls: list[Call], deadline: float) -> None:
        """Makes the calls, removing each from `calls` once made or refused; what is
        left there was not done by the deadline."""
        while calls:
            call = calls[0]
            outcome, result = await self._one(bot, call.method, deadline)
            if outcome is _Outcome.LATE:
                return
            calls.pop(0)
            if outcome is _Outcome.MAYBE:
                await self._lost([call], self.maybe_ask_again)
            elif result is not None and call.on_sent is not None:
                try:
                    await call.on_sent(result)
                except Exception:  # the message went out; what follows it is not worth more
                    log.exception("after %s", call.method.__api_method__)

    async def _lost(self, calls: list[Call], after: float) -> None:
        """Questions that did not reach their customer: the outbox asks them again, at
        once or, for one that may have arrived, `after` seconds later if still unanswered."""
        lost = [call for call in calls if call.question is not None]
        if not lost or self.ask_again is None:
            return
        if after > 0:
            task = asyncio.get_running_loop().create_task(self._ask_later(lost, after))
            self._asks.add(task)  # dropped at shutdown: /continue and the reminder remain
            task.add_done_callback(self._asks.discard)
            return
        for call in lost:
            assert call.question is not None
            try:
                await self.ask_again(*call.question)
            except Exception:  # the customer can still ask: /continue
                log.exception("wave %s: could not have its question asked again", call.question)

    async def _ask_later(self, calls: list[Call], after: float) -> None:
        await asyncio.sleep(after)
        await self._lost(calls, 0.0)

    async def _one(
        self, bot: Bot, method: TelegramMethod[Any], deadline: float
    ) -> tuple[_Outcome, Any]:
        """LATE when the deadline came first; otherwise DONE with the result (None when
        refused) or MAYBE."""
        name = method.__api_method__
        chat = None if isinstance(method, AnswerCallbackQuery) else _message_chat(method)
        paced = False
        attempt = 0
        # A toast is no message: it waits out a 429 pause but takes no send slot.
        rated = not isinstance(method, AnswerCallbackQuery)
        while True:
            if not await self._slot(deadline, rated):
                return _Outcome.LATE, None
            if chat is not None and not paced:
                await self.pacer.wait(chat)
                paced = True
            try:
                return _Outcome.DONE, await bot(method)
            except Exception as error:  # every failure is classified below
                kind = reply_failure(error)
                if kind is ReplyFailure.DONE:
                    return _Outcome.DONE, None
                if kind is ReplyFailure.REFUSED:
                    if isinstance(error, TelegramForbiddenError):
                        log.info("%s: the user blocked the bot", name)
                    elif not (isinstance(method, AnswerCallbackQuery)
                              and isinstance(error, TelegramBadRequest)):  # fmt: skip
                        log.warning("%s refused: %s", name, error)
                    return _Outcome.DONE, None
                if kind is ReplyFailure.MAYBE and not isinstance(method, _IDEMPOTENT):
                    log.warning("%s may not have arrived; not sent twice: %s", name, error)
                    return _Outcome.MAYBE, None
                if kind is ReplyFailure.PAUSE:
                    seconds = (
                        float(error.retry_after)
                        if isinstance(error, TelegramRetryAfter)
                        else OUTAGE_PAUSE
                    )
                    self._pause(seconds)
                    log.info("%s: sending paused for %g s: %s", name, seconds, error)
                    continue
                attempt += 1
                delay = _backoff(attempt)
                if time.monotonic() + delay > deadline:
                    return _Outcome.LATE, None
                log.info("%s failed (%s), again in %.2f s: %s", name, kind, delay, error)
                await asyncio.sleep(delay)

    async def paced(self, call: Callable[[], Awaitable[T]], patience: float | None = None) -> T:
        """One Bot API call whose failures are the caller's to handle (the staff alerts),
        made through the bot's send-rate limiter: a 429 pauses all sending and the call
        is made again after retry_after. TimeoutError when no slot came within `patience`
        (default the horizon)."""
        deadline = time.monotonic() + (self.horizon if patience is None else patience)
        while True:
            if not await self._slot(deadline):
                raise TimeoutError("sending paused past the deadline")
            try:
                return await call()
            except TelegramRetryAfter as error:
                self._pause(float(error.retry_after))
                log.info("sending paused for %s s: %s", error.retry_after, error)

    async def _slot(self, deadline: float, rated: bool = True) -> bool:
        """A send slot from the bot's limiter (with `rated`; else only the end of a
        pause), waiting out a 429 pause; False when the pause outlasts the deadline."""
        while True:
            try:
                if not rated and self.limiter.paused_for == 0:
                    return True
                if rated and await self.limiter.acquire():
                    return True
                wait = self.limiter.paused_for
            except Exception as error:  # Redis down: a safe local rate, never a failure
                log.warning("the shared rate limiter failed (%s): local rate for now", error)
                if await self.fallback.acquire():
                    return True
                wait = self.fallback.paused_for
            wait = max(wait, 0.01)
            if time.monotonic() + wait > deadline:
                return False
            await asyncio.sleep(wait)

    def _pause(self, seconds: float) -> None:
        self.fallback.pause(seconds)
        try:
            self.limiter.pause(seconds)
        except Exception:  # the shared pause is best effort; this process pauses anyway
            log.exception("could not share a %g s pause", seconds)

    async def idle(self) -> None:
        """Until every background reply and delayed ask is done (tests)."""
        while self._background or self._asks:
            await asyncio.gather(*self._background, *self._asks, return_exceptions=True)

    async def close(self, grace: float = 5.0) -> None:
        """Let the background replies finish for a moment, then stop them: the questions
        among them are left to the outbox."""
        for task in self._asks:
            task.cancel()
        if not self._background:
            return
        held = dict(self._background)
        _, pending = await asyncio.wait(set(held), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
            left = [call for task in pending for call in held[task]]
            log.warning("%d held-up replies dropped at shutdown", len(left))
            await self._lost(left, 0.0)


def _message_chat(method: TelegramMethod[Any]) -> int | str | None:
    """The chat a message is sent to (edits do not count: they send nothing new)."""
    if isinstance(method, _IDEMPOTENT):
        return None
    chat = getattr(method, "chat_id", None)
    return chat if isinstance(chat, (int, str)) else None


def _backoff(attempt: int) -> float:
    base = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (attempt - 1))
    return float(base * random.uniform(0.75, 1.25))
