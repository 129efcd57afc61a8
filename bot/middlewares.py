"""One transaction per update, committed before anything is said to Telegram.

Telegram delivers updates at least once, so the update id is recorded in the same
transaction as the update's effect: a replay finds it and changes nothing. Replies are
collected while the handler runs and sent only after the commit, so no transaction is
held open across a Telegram call, and a handler retried after a transient database error
sends nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError, TelegramNetworkError
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.types import TelegramObject, Update, User
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.roles import Role
from bot.telegram_errors import not_modified
from bot.texts import pick_locale
from storage.customers import chosen_locale
from storage.updates import claim_update

log = logging.getLogger(__name__)

DB_ATTEMPTS = 3
OnSent = Callable[[Any], Awaitable[None]]
AfterCommit = Callable[[Bot], Awaitable[None]]
# Told each update's outcome (handled, unhandled, duplicate, failed) and the handler's
# result, after the commit: the composition root counts them for /metrics.
Observer = Callable[[str, Any], None]
_REPLAYED = object()  # the update was handled before


def _ignore(_outcome: str, _result: Any) -> None:
    return None


@dataclass
class Replies:
    """Bot API calls a handler wants made once its transaction has committed."""

    calls: list[tuple[TelegramMethod[Any], OnSent | None]] = field(default_factory=list)
    # Work that needs more than a call and a callback (several sends, each failing on its
    # own, settled in its own short transaction): run after the calls, also post-commit.
    jobs: list[AfterCommit] = field(default_factory=list)

    def add(self, method: TelegramMethod[Any], on_sent: OnSent | None = None) -> None:
        self.calls.append((method, on_sent))

    def after(self, job: AfterCommit) -> None:
        self.jobs.append(job)

    @property
    def answers_callback(self) -> bool:
        return any(isinstance(method, AnswerCallbackQuery) for method, _ in self.calls)

    async def flush(self, bot: Bot) -> None:
        for method, on_sent in self.calls:
            try:
                result = await bot(method)
            except TelegramForbiddenError:
                log.info("%s: the user blocked the bot", method.__api_method__)
                continue
            except (TelegramAPIError, TelegramNetworkError) as error:
                if not not_modified(error):
                    log.warning("%s failed: %s", method.__api_method__, error)
                continue
            if on_sent is not None:
                await on_sent(result)
        for job in self.jobs:
            try:
                await job(bot)
            except Exception:  # the update is committed: one job's bug must not stop others
                log.exception("a job after the commit failed")


class UpdateMiddleware(BaseMiddleware):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime],
        owner_ids: frozenset[int],
        staff_ids: frozenset[int],
        default_locale: str,
        observe: Observer | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.owner_ids = owner_ids
        self.staff_ids = staff_ids
        self.default_locale = default_locale
        self.observe = observe or _ignore

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        user: User | None = data.get("event_from_user")
        data["role"] = self._role(user)
        data["locale"] = data.get("team_locale") or pick_locale(
            user.language_code if user else None, self.default_locale
        )
        for attempt in range(1, DB_ATTEMPTS + 1):
            replies = Replies()
            data["replies"] = replies
            try:
                result = await self._in_transaction(handler, event, data)
                break
            except DBAPIError as error:
                if attempt == DB_ATTEMPTS:
                    return await self._failed(event, data, error)
                log.warning(
                    "update %s: database error, retrying: %s", event.update_id, _kind(error)
                )
            except Exception as error:  # a bug must not leave a button spinning
                return await self._failed(event, data, error)
        bot: Bot = data["bot"]
        await replies.flush(bot)
        if event.callback_query is not None and not replies.answers_callback:
            await Replies([(event.callback_query.answer(), None)]).flush(bot)
        if result is _REPLAYED:
            self.observe("duplicate", None)
            return UNHANDLED
        self.observe("unhandled" if result is UNHANDLED else "handled", result)
        return result

    async def _in_transaction(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: Update,
        data: dict[str, Any],
    ) -> Any:
        now = self.clock()
        async with self.sessions() as session, session.begin():
            if not await claim_update(session, event.update_id, now):
                log.info("update %s was handled before: ignored", event.update_id)
                return _REPLAYED
            data["session"] = session
            data["now"] = now
            user: User | None = data.get("event_from_user")
            if user is not None and event.callback_query is None:
                # A language the person chose (/language) beats Telegram's language_code.
                # Not looked up for a tap: its handler reads the customer's row anyway
                # (a tap on a question is the busiest path).
                data["locale"] = await chosen_locale(session, user.id) or data["locale"]
            return await handler(event, data)

    async def _failed(self, event: Update, data: dict[str, Any], error: Exception) -> Any:
        """Nothing was committed. The log says which update and why, never what it holds
        (names, usernames, texts: a customer's /forget cannot reach into log files); a
        database error's message carries the statement's values, so only its kind is
        logged, while a bug keeps its traceback."""
        self.observe("failed", None)
        try:
            kind = event.event_type
        except LookupError:  # a kind of update aiogram does not know
            kind = "unknown"
        if isinstance(error, DBAPIError):
            log.error(
                "update %s (%s) failed, nothing stored: %s", event.update_id, kind, _kind(error)
            )
        else:
            log.error(
                "update %s (%s) failed, nothing stored: %s",
                event.update_id, kind, type(error).__name__, exc_info=error,
            )  # fmt: skip
        if event.callback_query is not None:
            await Replies([(event.callback_query.answer(), None)]).flush(data["bot"])
        return UNHANDLED

    def _role(self, user: User | None) -> Role:
        if user is None:
            return Role.CUSTOMER
        if user.id in self.owner_ids:
            return Role.OWNER
        if user.id in self.staff_ids:
            return Role.STAFF
        return Role.CUSTOMER


def _kind(error: DBAPIError) -> str:
    """`OperationalError (database is locked)`: the driver's error class, and its message
    only when it is one of the few that carry no values."""
    orig = error.orig
    name = type(orig).__name__ if orig is not None else type(error).__name__
    message = str(orig).splitlines()[0] if orig is not None else ""
    return f"{name} ({message})" if message in _VALUELESS else name


_VALUELESS = frozenset({"database is locked", "database table is locked", "disk I/O error"})
