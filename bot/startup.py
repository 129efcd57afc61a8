"""Reaching Telegram before anything is written: the token's shape, then getMe.

`cjm run` and `cjm order add` check the token here before they touch the database, so a
wrong token stops them with one line and leaves no order (and no cjm.db) behind."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiogram import Bot
from aiogram.exceptions import (
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import User
from aiogram.utils.token import TokenValidationError, validate_token
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings, SettingsError
from storage.db import make_engine
from storage.migrate import upgrade

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]
FIRST_RETRY = 1.0  # seconds; doubled after each failure
LAST_RETRY = 60.0


class TelegramUnreachable(Exception):
    """One line: Telegram did not answer, and what was (not) done about it."""


def checked_token(settings: Settings) -> str:
    """The token, if it is set and shaped like one (digits, a colon, a secret)."""
    token = settings.token()
    try:
        validate_token(token)
    except TokenValidationError:
        raise SettingsError(
            "CJM_BOT_TOKEN: not a bot token (it looks like 123456789:AAH…; "
            "get one from @BotFather)"
        ) from None
    return token


async def bot_user(
    bot: Bot, settings: Settings, *, retry: bool = False, sleep: Sleep = asyncio.sleep
) -> User:
    """getMe. A refused token raises SettingsError. Telegram unreachable raises
    TelegramUnreachable, or with `retry` is tried again with a growing pause (1 s to
    60 s), each attempt logged as one line."""
    pause = FIRST_RETRY
    while True:
        try:
            return await bot.me()
        except (TelegramUnauthorizedError, TelegramNotFound):
            raise SettingsError(
                "CJM_BOT_TOKEN: Telegram refused this token (revoked or mistyped? "
                "check it with @BotFather)"
            ) from None
        except (TelegramNetworkError, TelegramServerError, TelegramRetryAfter) as error:
            why = _reason(error)
            if not retry:
                raise TelegramUnreachable(
                    f"Telegram is unreachable at {settings.telegram_api_url}: {why}"
                ) from None
            wait = max(pause, float(getattr(error, "retry_after", 0)))
            log.warning(
                "Telegram is unreachable at %s (%s); trying again in %g s",
                settings.telegram_api_url, why, wait,
            )  # fmt: skip
            await sleep(wait)
            pause = min(pause * 2, LAST_RETRY)


async def open_database(settings: Settings) -> AsyncEngine:
    """The engine, once a connection works and the migrations are applied: a database
    that cannot be reached, or refuses us, stops the command with one line naming
    CJM_DATABASE_URL."""
    url = make_url(settings.database_url)
    shown = url.render_as_string(hide_password=True)
    if folder := _missing_folder(url):
        raise SettingsError(f"CJM_DATABASE_URL: cannot open {shown}: no folder {folder}")
    engine = make_engine(settings.database_url)
    try:
        async with engine.connect():
            pass
    except (DBAPIError, OSError) as error:
        await engine.dispose()
        cause = error.orig if isinstance(error, DBAPIError) else error
        why = getattr(cause, "strerror", None) or str(cause).strip().splitlines()[0]
        raise SettingsError(f"CJM_DATABASE_URL: cannot open {shown}: {why}") from None
    await upgrade(engine)
    return engine


def _missing_folder(url: URL) -> str | None:
    """SQLite creates the file, not its folder (checked here: aiosqlite's failure leaves
    a thread behind)."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    folder = Path(url.database).parent
    return None if folder.is_dir() else str(folder)


def _reason(error: Exception) -> str:
    """ "HTTP Client says - ClientConnectorError: Cannot connect to host …" → the part
    after the exception's name."""
    text = str(getattr(error, "message", "") or error).strip()
    name, colon, rest = text.partition(": ")
    if colon and name.isidentifier() and name.endswith("Error"):
        text = rest
    return text.splitlines()[0] if text else type(error).__name__
