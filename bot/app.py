"""The composition root: settings → engine → bot → dispatcher → scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.messenger import TelegramMessenger
from bot.middlewares import UpdateMiddleware
from bot.routers import customer, fallback, owner, staff, survey
from bot.services import Services
from bot.settings import Settings
from reports import rollups
from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.shared_rate import SharedRateLimiter
from storage.updates import forget_updates_before
from surveys.answers import AnswerService
from surveys.dispatcher import WaveDispatcher
from surveys.journeys import Journeys
from surveys.loader import load_survey
from surveys.model import Survey
from surveys.ratelimit import LocalRateLimiter, RateLimiter

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
UPDATE_MEMORY = timedelta(days=7)  # Telegram keeps unconfirmed updates for 24 hours
ROLLUP_DELAY = timedelta(seconds=30)  # let start-up and the first drain go first

CUSTOMER_COMMANDS = {
    "en": {"help": "What this bot does", "stop": "No more questions",
           "forget": "Delete my data", "language": "Change the language"},
    "ru": {"help": "Что умеет этот бот", "stop": "Больше не присылать вопросы",
           "forget": "Удалить мои данные", "language": "Сменить язык"},
}  # fmt: skip
STAFF_COMMANDS = {
    "en": {"order": "Register an order: /order <ref> [segment]"},
    "ru": {"order": "Зарегистрировать заказ: /order <код> [сегмент]"},
}
OWNER_COMMANDS = {
    "en": {"report": "The journey map: /report [7d|30d|FROM..TO] [segment]"},
    "ru": {"report": "Карта пути клиента: /report [7d|30d|С..ПО] [сегмент]"},
}


def utc_now() -> datetime:
    return datetime.now(UTC)


def make_bot(settings: Settings) -> Bot:
    server = TelegramAPIServer.from_base(settings.telegram_api_url)
    return Bot(settings.token(), session=AiohttpSession(api=server))


@dataclass
class App:
    settings: Settings
    survey: Survey
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    bot: Bot
    dp: Dispatcher
    services: Services
    waves: WaveDispatcher
    scheduler: AsyncIOScheduler

    async def close(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if isinstance(self.waves.limiter, SharedRateLimiter):
            await self.waves.limiter.close()
        await self.bot.session.close()
        await self.engine.dispose()


def rate_limiter(settings: Settings, bot: Bot) -> RateLimiter:
    """With CJM_REDIS_URL, every process of this bot shares one send rate and one 429
    pause (Telegram's limits are per bot); without it, the limit is this process's."""
    if settings.redis_url:
        prefix = f"cjm:bot{bot.id}"
        return SharedRateLimiter.from_url(settings.redis_url, prefix, settings.send_rate)
    return LocalRateLimiter(settings.send_rate)


async def build_app(
    settings: Settings, clock: Clock = utc_now, bot: Bot | None = None, migrate: bool = True
) -> App:
    survey = load_survey(settings.survey)
    engine = make_engine(settings.database_url)
    if migrate:
        await upgrade(engine)
    sessions = make_session_factory(engine)
    bot = bot or make_bot(settings)
    username = settings.bot_username or (await bot.me()).username or "bot"
    rules = settings.sending_rules
    services = Services(
        survey=survey, journeys=Journeys(survey, rules, settings.link_ttl),
        answers=AnswerService(survey, settings.default_locale), sessions=sessions,
        rules=rules, clock=clock, bot_username=username, default_locale=settings.default_locale,
    )  # fmt: skip
    waves = WaveDispatcher(
        sessions, survey, TelegramMessenger(bot, settings.request_timeout),
        rate_limiter(settings, bot), rules, clock, settings.default_locale,
        window=settings.dispatch_batch, lease=settings.send_lease,
    )  # fmt: skip
    dp = build_dispatcher(settings, services)
    scheduler = build_scheduler(settings, waves, sessions, clock)
    return App(settings, survey, engine, sessions, bot, dp, services, waves, scheduler)


def build_dispatcher(settings: Settings, services: Services) -> Dispatcher:
    dp = Dispatcher(services=services)
    dp.update.outer_middleware(
        UpdateMiddleware(
            services.sessions, services.clock, settings.owner_ids, settings.staff_ids,
            settings.default_locale,
        )
    )  # fmt: skip
    dp.include_routers(
        owner.setup(), staff.setup(), customer.setup(), survey.setup(), fallback.setup()
    )
    return dp


def build_scheduler(
    settings: Settings,
    waves: WaveDispatcher,
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
) -> AsyncIOScheduler:
    """One interval job drains the outbox table; no job per message, so a restart loses
    nothing and memory does not grow with the backlog."""
    scheduler = AsyncIOScheduler(timezone=settings.timezone)

    async def prune_updates() -> None:
        async with sessions.begin() as session:
            await forget_updates_before(session, clock() - UPDATE_MEMORY)

    scheduler.add_job(
        waves.drain, "interval", seconds=settings.dispatch_interval, id="drain",
        max_instances=1, coalesce=True, next_run_time=clock(),
    )  # fmt: skip
    scheduler.add_job(prune_updates, "interval", hours=6, id="prune_updates", coalesce=True)

    async def refresh_rollups() -> None:
        await rollups.refresh(sessions, [waves.survey.id], clock())

    # Closed days are rolled up soon after start (a first build over a large history
    # takes a while, one day per transaction) and then every quarter of an hour.
    scheduler.add_job(
        refresh_rollups, "interval", minutes=15, id="rollups", max_instances=1,
        coalesce=True, next_run_time=clock() + ROLLUP_DELAY,
    )  # fmt: skip
    return scheduler


async def set_commands(bot: Bot, settings: Settings) -> None:
    """The command menu per role: customers see theirs, staff and owners see more."""
    for locale, commands in CUSTOMER_COMMANDS.items():
        menu = _menu(commands)
        language = None if locale == "en" else locale
        await bot.set_my_commands(menu, BotCommandScopeDefault(), language_code=language)
        staff_menu = [*_menu(STAFF_COMMANDS[locale]), menu[0]]
        owner_menu = [*_menu(OWNER_COMMANDS[locale]), *staff_menu]
        for user_id in settings.staff_ids | settings.owner_ids:
            scope = BotCommandScopeChat(chat_id=user_id)
            chosen = owner_menu if user_id in settings.owner_ids else staff_menu
            await bot.set_my_commands(chosen, scope, language_code=language)


def _menu(commands: dict[str, str]) -> list[BotCommand]:
    return [BotCommand(command=c, description=d) for c, d in commands.items()]


@asynccontextmanager
async def serving(
    app: App, *, timer: bool = True, handle_signals: bool = False, polling_timeout: int = 10
) -> AsyncIterator[asyncio.Task[None]]:
    """Long polling (and, with `timer`, the scheduler) for the duration of the block."""
    await set_commands(app.bot, app.settings)
    await app.bot.delete_webhook(drop_pending_updates=False)
    if timer:
        app.scheduler.start()
    # handle_as_tasks=False: the next getUpdates (which confirms this batch to Telegram)
    # is only sent after every update of the batch has been committed.
    polling = asyncio.create_task(
        app.dp.start_polling(
            app.bot, handle_as_tasks=False, close_bot_session=False,
            handle_signals=handle_signals, polling_timeout=polling_timeout,
        )
    )  # fmt: skip
    try:
        yield polling
    finally:
        if not polling.done():
            try:
                await app.dp.stop_polling()
            except RuntimeError:  # polling never got going
                polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling


async def run(app: App) -> None:
    """Serve until SIGINT/SIGTERM: polling, with the outbox drained on a timer."""
    try:
        async with serving(app, handle_signals=True) as polling:
            await polling
    finally:
        await app.close()
