"""The languages of staff and owners, for messages they get without writing first: alert
notifications, the weekly report."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User

from bot.texts import pick_locale


class TeamLanguages(BaseMiddleware):
    """Each staff member's and owner's Telegram language, remembered from their updates.
    In memory: after a restart, CJM_DEFAULT_LOCALE until they write again (the weekly
    report also remembers the language it was last sent in)."""

    def __init__(self, user_ids: frozenset[int], default_locale: str) -> None:
        self.user_ids = user_ids
        self.default_locale = default_locale
        self.seen: dict[int, str] = {}

    def of(self, user_id: int) -> str:
        return self.seen.get(user_id, self.default_locale)

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is not None and user.id in self.user_ids and user.language_code:
            self.seen[user.id] = pick_locale(user.language_code, self.default_locale)
        return await handler(event, data)
