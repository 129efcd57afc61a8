"""The languages of staff and owners, for messages they get without writing first: alert
notifications, the weekly report."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.texts import pick_locale
from storage import team

log = logging.getLogger(__name__)


class TeamLanguages(BaseMiddleware):
    """Each staff member's and owner's language: the one they chose with /language, else
    their Telegram language as last seen, else the default (the survey's). Kept in the
    database (`load` on start), so a restart forgets nothing; held here as well, because
    every alert asks for it."""

    def __init__(
        self,
        user_ids: frozenset[int],
        default_locale: str,
        sessions: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.user_ids = user_ids
        self.default_locale = default_locale
        self.sessions = sessions
        self.seen: dict[int, str] = {}
        self.chosen: set[int] = set()

    def of(self, user_id: int) -> str:
        return self.seen.get(user_id, self.default_locale)

    async def load(self) -> None:
        if self.sessions is None or not self.user_ids:
            return
        try:
            async with self.sessions() as session:
                known = await team.languages(session, self.user_ids)
        except (DBAPIError, OSError) as error:  # start anyway: /healthz says what is wrong
            log.warning("languages of staff and owners not loaded: %s", error)
            return
        for user_id, (locale, chosen) in known.items():
            self.seen[user_id] = locale
            if chosen:
                self.chosen.add(user_id)

    async def choose(self, session: AsyncSession, user_id: int, locale: str) -> None:
        """/language: kept with the update's transaction; Telegram's no longer counts."""
        await team.remember(session, user_id, locale, chosen=True)
        self.seen[user_id] = locale
        self.chosen.add(user_id)

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is not None and user.id in self.user_ids:
            await self._notice(user)
            if user.id in self.chosen:
                data["team_locale"] = self.seen[user.id]
        return await handler(event, data)

    async def _notice(self, user: User) -> None:
        if not user.language_code or user.id in self.chosen:
            return
        locale = pick_locale(user.language_code, self.default_locale)
        if self.seen.get(user.id) == locale:
            return
        self.seen[user.id] = locale
        if self.sessions is None:
            return
        try:
            async with self.sessions.begin() as session:
                await team.remember(session, user.id, locale, chosen=False)
        except DBAPIError as error:  # kept in memory; the next update tries again
            self.seen.pop(user.id, None)
            log.warning("the language of user %s not stored: %s", user.id, error)
