"""The whole bot against the fake Bot API: real polling, real HTTP, real database."""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Any, Self

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App, build_app, serving
from bot.settings import Settings
from storage.models import Answer, Dispatch
from surveys.dispatcher import DrainReport
from tests.support.clock import FakeClock
from tests.support.fake_bot_api import FakeBotAPI, TgUser

OWNER_ID = 1
STAFF_ID = 100


def settings_for(api: FakeBotAPI, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "bot_token": "123456:TEST", "telegram_api_url": api.url, "database_url": database_url,
        "owner_ids": frozenset({OWNER_ID}), "staff_ids": frozenset({STAFF_ID}),
        "quiet_hours": "off", "timezone": "UTC", "send_rate": 0, "survey": "cafe",
        "request_timeout": 2, "default_locale": "en", "http_port": 0,
    }  # fmt: skip
    values.update(overrides)
    return Settings.explicit(**values)


class Harness:
    """Builds the app as `cjm run` does (minus the timer) and polls the fake server."""

    def __init__(
        self, api: FakeBotAPI, database_url: str, clock: FakeClock, **overrides: Any
    ) -> None:
        self.api = api
        self.clock = clock
        self.settings = settings_for(api, database_url, **overrides)
        self._serving: contextlib.AbstractAsyncContextManager[object] | None = None
        self.app: App

    async def __aenter__(self) -> Self:
        self.app = await build_app(self.settings, clock=self.clock)
        # As `cjm run` serves, minus the timer: tests drain the outbox themselves.
        self._serving = serving(self.app, timer=False, polling_timeout=1)
        await self._serving.__aenter__()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def stop(self) -> None:
        if self._serving is not None:
            await self._serving.__aexit__(None, None, None)
            self._serving = None
            await self.app.close()

    # -- people ------------------------------------------------------------------------
    def user(self, user_id: int, language: str = "en") -> TgUser:
        return self.api.user(user_id, first_name=f"User{user_id}", language_code=language)

    @property
    def staff(self) -> TgUser:
        return self.user(STAFF_ID)

    async def send(self, user: TgUser, text: str) -> None:
        """Deliver a message and wait until the bot has handled it (and acknowledged it)."""
        await self.api.wait_acked(user.send_text(text), timeout=10)

    async def click(self, user: TgUser, message: dict[str, Any], button: str) -> None:
        await self.api.wait_acked(user.click(message, button), timeout=10)

    async def push(self, update: dict[str, Any]) -> None:
        await self.api.wait_acked(self.api.push_update(update), timeout=10)

    def last_to(self, user: TgUser) -> dict[str, Any]:
        return self.api.last_message_to(user.user_id)

    async def drain(self) -> DrainReport:
        return await self.app.waves.drain()

    # -- the database ----------------------------------------------------------------
    async def scalar(self, statement: Any) -> Any:
        async with self.app.sessions() as session:
            return await session.scalar(statement)

    async def rows(self, statement: Any) -> list[Any]:
        async with self.app.sessions() as session:
            return list((await session.execute(statement)).all())

    async def answers(self) -> list[Answer]:
        async with self.app.sessions() as session:
            return list(await session.scalars(select(Answer).order_by(Answer.id)))

    async def dispatches(self) -> list[Dispatch]:
        async with self.app.sessions() as session:
            return list(await session.scalars(select(Dispatch).order_by(Dispatch.id)))

    async def count(self, model: Any) -> int:
        async with self.app.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)

    def session(self) -> AsyncSession:
        return self.app.sessions()
