"""The composition root: settings → engine → bot → dispatcher → scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiogram import Bot, Dispatcher
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.metrics import Metrics
from api.server import HttpServer
from bot import webhook
from bot.alerts import AlertDesk
from bot.background import Background
from bot.languages import TeamLanguages
from bot.messenger import TelegramMessenger
from bot.middlewares import Observer, ReplyLedger, UpdateMiddleware
from bot.poll_gate import PollingGate
from bot.poll_lease import PollLease
from bot.reply_sender import ReplySender
from bot.reporting import OwnerReports, TelegramReportSender
from bot.routers import alerts, customer, fallback, owner, staff, survey
from bot.routers.survey import complete_replay
from bot.services import Services
from bot.settings import Settings, SettingsError
from bot.startup import checked_token, open_database
from bot.telegram_errors import TelegramSession, jittered
from bot.telemetry import TelegramWatch
from bot.texts import locales, t
from bot.web import build_http, update_observer
from reports import rollups
from reports.schedule import crontab
from reports.weekly import WeeklyReports
from reports.worker import ReportWorker
from storage import dispatches, orders
from storage.db import make_engine, make_session_factory
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
WEEKLY_RECHECK = timedelta(minutes=1)  # retries and a missed week of the weekly report
ROLLUP_DELAY = timedelta(seconds=30)  # let start-up and the first drain go first
# How long a webhook request retries a database error before answering 503 (Telegram
# waits 60 s; aiogram answers 200 on its own after 55 s). Polling waits as long as it takes.
WEBHOOK_DB_PATIENCE = 20.0

# Sends let through at once after a quiet spell: a fifth of a second's worth, so that few
# requests are ever in flight together (all of them *unknown* if the process dies).
BURST_SECONDS = 0.2

# The command menus per role; their descriptions are the catalogs' "command_<name>".
CUSTOMER_COMMANDS = ("help", "continue", "stop", "forget", "language")
STAFF_COMMANDS = ("order",)
OWNER_COMMANDS = ("report",)


def utc_now() -> datetime:
    return datetime.now(UTC)


def make_bot(settings: Settings) -> Bot:
    token = checked_token(settings)  # a malformed one stops here, in one line
    server = TelegramAPIServer.from_base(settings.telegram_api_url)
    return Bot(token, session=TelegramSession(api=server))


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
    weekly: WeeklyReports
    background: Background  # /report's builds, the start-up catch-up: wait() in tests
    metrics: Metrics
    http: HttpServer  # the API, /healthz, /metrics: started by `serving`
    replies: ReplySender  # replies to updates: the outbox's limiter, retries
    ledger: ReplyLedger  # which updates' replies were made
    polling: PollingGate | None  # polling mode: the poller lease and 409s (None: webhook)

    async def close(self) -> None:
        """A graceful stop (SIGTERM, SIGINT), within CJM_STOP_TIMEOUT: no new claims, the
        sends in flight finish and their outcomes are recorded, the claimed waves not yet
        started go back to pending; then the rest shuts down."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.stop_timeout
        await self.waves.stop(self.settings.stop_timeout)
        await self.http.stop()
        await self.replies.close()
        await self.ledger.save(self.sessions, self.services.clock())
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        close_limiter = getattr(self.waves.limiter, "close", None)  # a SharedRateLimiter's Redis
        if close_limiter is not None:
            await close_limiter()
        self.background.grace = max(0.0, min(self.background.grace, deadline - loop.time()))
        await self.background.close()
        await self.bot.session.close()
        await self.engine.dispose()


def asking_again(
    sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> Callable[[int, str], Awaitable[None]]:
    """A question that never reached its customer is sent again by the outbox."""

    async def ask_again(dispatch_id: int, question_id: str) -> None:
        async with sessions.begin() as session:
            await dispatches.ask_again_at(session, dispatch_id, question_id, clock())

    return ask_again


def rate_limiter(settings: Settings, bot: Bot) -> RateLimiter:
    """With CJM_REDIS_URL, every process of this bot shares one send rate and one 429
    pause (Telegram's limits are per bot); without it, the limit is this process's."""
    burst = max(1.0, settings.send_rate * BURST_SECONDS)
    if settings.redis_url:
        # redis is imported only when configured: most shops run one process without it.
        from storage.shared_rate import SharedRateLimiter  # noqa: PLC0415

        prefix = f"cjm:bot{bot.id}"
        # No burst in hand: when Redis fails the shared bucket has just been spent, and a
        # full local one in each process would double the rate in the second of the switch.
        fallback = LocalRateLimiter(safe_rate(settings.send_rate), burst=1.0)
        return SharedRateLimiter.from_url(
            settings.redis_url, prefix, settings.send_rate, fallback=fallback, burst=burst
        )
    return LocalRateLimiter(settings.send_rate, burst=burst)


def safe_rate(rate: float) -> float:
    """Each process's limit while Redis is unreachable: a quarter of the shared rate (at
    least one a second), so that a few processes together still stay under it."""
    shared = rate if rate > 0 else 25.0
    return max(1.0, shared / 4)


async def build_app(
    settings: Settings, clock: Clock = utc_now, bot: Bot | None = None, migrate: bool = True
) -> App:
    survey = load_survey(settings.survey, "CJM_SURVEY")
    # Without `migrate` (tests) the database is not touched until it is used.
    engine = await open_database(settings) if migrate else make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    bot = bot or make_bot(settings)
    metrics = Metrics()
    # Outside the watch: it sees each getUpdates the gate lets through, 409s included.
    gate = None if settings.webhook_url else polling_gate(settings, sessions, bot, metrics)
    watch = TelegramWatch(clock, metrics.telegram_ok, metrics.count_telegram_error)
    bot.session.middleware(watch)
    username = settings.bot_username or (await bot.me()).username or "bot"
    if gate is not None:
        gate.lease.bot_name = f"@{username}"
    rules = settings.sending_rules
    locale = settings.locale_for(survey.default_locale)
    services = Services(
        survey=survey, journeys=Journeys(survey, rules, settings.link_ttl),
        answers=AnswerService(survey, locale), sessions=sessions,
        rules=rules, clock=clock, bot_username=username, default_locale=locale,
    )  # fmt: skip
    waves = WaveDispatcher(
        sessions, survey, TelegramMessenger(bot, settings.request_timeout),
        rate_limiter(settings, bot), rules, clock, locale,
        window=settings.dispatch_batch, lease=settings.send_lease,
        on_drained=metrics.count_drain, jitter=jittered,
        open_messages=services.open_messages,
    )  # fmt: skip
    replies = ReplySender(waves.limiter, ask_again=asking_again(sessions, clock))
    ledger = ReplyLedger()
    background = Background()
    sender = TelegramReportSender(bot, settings.request_timeout)
    languages = TeamLanguages(settings.staff_ids | settings.owner_ids, locale, sessions)
    await languages.load()
    # Reports are drawn in a short-lived process: the bot never loads matplotlib & co.
    worker = ReportWorker(
        settings.survey, survey.id, settings.database_url, settings.report_timeout,
        settings.report_formats,
    )  # fmt: skip
    weekly = WeeklyReports(
        sessions, survey, sender, crontab(settings.report_cron, settings.timezone),
        settings.owner_ids, clock, locale, languages.seen, settings.send_lease,
        worker,
    )  # fmt: skip
    owner_reports = OwnerReports(worker, sender, background, clock)
    dp = build_dispatcher(
        settings, services, owner_reports=owner_reports, languages=languages,
        observe=update_observer(metrics), replies=replies, ledger=ledger,
    )  # fmt: skip
    scheduler = build_scheduler(settings, waves, sessions, clock)
    add_weekly_jobs(scheduler, weekly, background)
    # Webhook mode: Telegram posts updates to this same server.
    extra = [webhook.webhook_route(settings, dp, bot)] if settings.webhook_url else []
    http = build_http(settings, services, scheduler, metrics, watch, extra, gate)
    return App(
        settings, survey, engine, sessions, bot, dp, services, waves, scheduler, weekly,
        background, metrics, http, replies, ledger, gate,
    )  # fmt: skip


def polling_gate(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], bot: Bot, metrics: Metrics
) -> PollingGate:
    """Polling mode: getUpdates only while this process holds the poller lease. The lease
    runs on the real clock even when the app's is a test's: it is between processes."""
    lease = PollLease(sessions, bot.id, settings.poll_lease, on_change=metrics.set_polling)
    gate = PollingGate(lease, utc_now, on_conflict=metrics.count_poll_conflict)
    bot.session.middleware(gate)
    return gate


def build_dispatcher(
    settings: Settings,
    services: Services,
    *,
    owner_reports: OwnerReports | None = None,
    languages: TeamLanguages | None = None,
    observe: Observer | None = None,
    replies: ReplySender | None = None,
    ledger: ReplyLedger | None = None,
) -> Dispatcher:
    spoken = languages or TeamLanguages(
        settings.staff_ids | settings.owner_ids, services.default_locale, services.sessions
    )
    desk = AlertDesk(
        services.sessions, services.survey, spoken, services.rules.timezone, services.clock,
        replies,
    )  # fmt: skip
    # report_formats (CJM_REPORT_FORMATS): /help and /report name the files a report sends.
    dp = Dispatcher(
        services=services, alert_desk=desk, team_languages=spoken,
        report_formats=settings.report_formats,
    )  # fmt: skip
    dp.update.outer_middleware(spoken)
    dp.update.outer_middleware(
        UpdateMiddleware(
            services.sessions, services.clock, settings.owner_ids, settings.staff_ids,
            services.default_locale, observe, replies,
            db_patience=WEBHOOK_DB_PATIENCE if settings.webhook_url else None,
            on_replay=complete_replay, ledger=ledger,
        )
    )  # fmt: skip
    if owner_reports is not None:
        dp["owner_reports"] = owner_reports
    dp.include_routers(
        owner.setup(),
        staff.setup(),
        alerts.setup(),
        customer.setup(),
        survey.setup(),
        fallback.setup(),
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
            await orders.forget_link_openers(session, clock())

    scheduler.add_job(
        _stoppable(waves.drain, "the outbox drain"), "interval",
        seconds=settings.dispatch_interval, id="drain", max_instances=1, coalesce=True,
        next_run_time=clock(),
    )  # fmt: skip
    scheduler.add_job(
        _stoppable(prune_updates, "pruning"), "interval", hours=6, id="prune_updates",
        coalesce=True,
    )  # fmt: skip

    async def refresh_rollups() -> None:
        await rollups.refresh_survey(sessions, waves.survey, clock())

    # Closed days are rolled up soon after start (a first build over a large history
    # takes a while, one day per transaction) and then every quarter of an hour.
    scheduler.add_job(
        _stoppable(refresh_rollups, "the rollups"), "interval", minutes=15, id="rollups",
        max_instances=1, coalesce=True, next_run_time=clock() + ROLLUP_DELAY,
    )  # fmt: skip
    return scheduler


def _stoppable(job: Callable[[], Awaitable[object]], what: str) -> Callable[[], Awaitable[None]]:
    """A job cancelled by shutdown ends with one line: APScheduler would log a traceback
    (whatever it was doing is retried after a restart: claims expire)."""

    async def run() -> None:
        try:
            await job()
        except asyncio.CancelledError:
            log.info("Shutting down: %s was interrupted", what)

    return run


def add_weekly_jobs(
    scheduler: AsyncIOScheduler, weekly: WeeklyReports, background: Background
) -> None:
    """The weekly report at CJM_REPORT_CRON's times, in the business's time zone; and a
    check every minute that retries what Telegram refused for now and sends a week the
    bot missed (also run once on start: see `serving`). Deliveries are claimed in the
    database, so overlapping runs, here or in other processes, send nothing twice."""

    async def deliver() -> None:
        # A background task, so that shutdown finishes or cancels it (App.close); its
        # failure is logged there.
        await asyncio.wait({background.spawn(weekly.deliver(), name="weekly report")})

    scheduler.add_job(
        _stoppable(deliver, "the weekly report"), weekly.trigger, id="weekly_report",
        max_instances=1, coalesce=True, misfire_grace_time=int(WEEKLY_RECHECK.total_seconds()),
    )  # fmt: skip
    scheduler.add_job(
        _stoppable(deliver, "the weekly report"), "interval",
        seconds=WEEKLY_RECHECK.total_seconds(), id="weekly_report_recheck", max_instances=1,
        coalesce=True,
    )  # fmt: skip


async def set_commands(bot: Bot, settings: Settings) -> None:
    """The command menu per role: customers see theirs, staff and owners see more."""
    for locale in locales():
        menu = _menu(CUSTOMER_COMMANDS, locale)
        language = None if locale == "en" else locale
        await bot.set_my_commands(menu, BotCommandScopeDefault(), language_code=language)
        staff_menu = [*_menu(STAFF_COMMANDS, locale), menu[0]]
        owner_menu = [*_menu(OWNER_COMMANDS, locale), *staff_menu]
        for user_id in settings.staff_ids | settings.owner_ids:
            scope = BotCommandScopeChat(chat_id=user_id)
            chosen = owner_menu if user_id in settings.owner_ids else staff_menu
            await bot.set_my_commands(chosen, scope, language_code=language)


def _menu(commands: tuple[str, ...], locale: str) -> list[BotCommand]:
    return [BotCommand(command=c, description=t(locale, f"command_{c}")) for c in commands]


@asynccontextmanager
async def serving(
    app: App,
    *,
    timer: bool = True,
    handle_signals: bool = False,
    polling_timeout: int = 10,
    http: bool = True,
) -> AsyncIterator[asyncio.Task[None]]:
    """Long polling (and, with `timer`, the scheduler; with `http`, the HTTP server on
    CJM_HTTP_HOST:CJM_HTTP_PORT) for the duration of the block."""
    await set_commands(app.bot, app.settings)
    hooked = app.settings.webhook_url is not None
    if not hooked:
        await app.bot.delete_webhook(drop_pending_updates=False)
    if http or hooked:
        try:
            await app.http.start()
        except OSError as error:
            where = f"{app.settings.http_host}:{app.settings.http_port}"
            why = os.strerror(error.errno) if error.errno else str(error)
            raise SettingsError(f"CJM_HTTP_PORT: cannot listen on {where}: {why}") from None
        log.info("HTTP API on %s", app.http.url)
    if hooked:  # only once our server answers on the webhook's path
        await webhook.register(app.settings, app.dp, app.bot)
    if timer:
        app.scheduler.start()
        # A week missed while the bot was down goes out now, not at the next check.
        app.background.spawn(app.weekly.deliver(), name="weekly report catch-up")
    if hooked:
        polling = asyncio.create_task(_until_stopped(handle_signals))
    else:
        polling = _start_polling(app, handle_signals, polling_timeout)
    try:
        yield polling
    finally:
        if hooked:
            polling.cancel()
        elif not polling.done():
            try:
                await app.dp.stop_polling()
            except RuntimeError:  # polling never got going
                polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
        if app.polling is not None:  # a standby polls within seconds
            await app.polling.lease.close()
        await app.http.stop()


def _start_polling(app: App, handle_signals: bool, polling_timeout: int) -> asyncio.Task[None]:
    """aiogram's polling loop; its getUpdates wait while another process holds the
    poller lease (bot.poll_gate)."""
    if app.polling is not None:
        app.polling.lease.start()
    # handle_as_tasks=False: the next getUpdates (which confirms this batch to
    # Telegram) is only sent after every update of the batch has been committed.
    return asyncio.create_task(
        app.dp.start_polling(
            app.bot, handle_as_tasks=False, close_bot_session=False,
            handle_signals=handle_signals, polling_timeout=polling_timeout,
        )
    )  # fmt: skip


async def _until_stopped(handle_signals: bool) -> None:
    """Webhook mode's stand-in for the polling task: runs until SIGINT/SIGTERM (with
    `handle_signals`) or until cancelled."""
    stop = asyncio.Event()
    if handle_signals:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
    await stop.wait()


async def run(app: App) -> None:
    """Serve until SIGINT/SIGTERM: polling and the HTTP server, with the outbox drained
    on a timer."""
    # Everything built so far (modules, settings, the dispatcher's routers) lives as long
    # as the bot: out of the collector's full passes, which would scan it again and again.
    gc.freeze()
    try:
        async with serving(app, handle_signals=True) as polling:
            await polling
    finally:
        await app.close()
