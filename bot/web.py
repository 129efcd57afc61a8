"""The HTTP server's wiring: the API (api/) gets the survey services, the metrics and what
the health check asks about the scheduler and Telegram. Routes of the bot's own (the
webhook) go in through `extra`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from typing import Any

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.engine import make_url

from api.deps import ApiDeps, TelegramState, UpdatesState
from api.metrics import Metrics
from api.server import HttpServer, build_web_app
from bot.poll_gate import PollingGate
from bot.services import Services
from bot.settings import Settings
from bot.telemetry import TelegramWatch
from surveys.answers import Outcome


def build_http(
    settings: Settings,
    services: Services,
    scheduler: AsyncIOScheduler,
    metrics: Metrics,
    watch: TelegramWatch,
    extra: Iterable[web.AbstractRouteDef] = (),
    gate: PollingGate | None = None,
) -> HttpServer:
    key = settings.api_key.get_secret_value().strip() if settings.api_key else None
    sqlite = make_url(settings.database_url).get_backend_name() == "sqlite"
    deps = ApiDeps(
        sessions=services.sessions, survey=services.survey, journeys=services.journeys,
        clock=services.clock, deep_link=services.deep_link, api_key=key or None,
        metrics=metrics, scheduler=scheduler_probe(scheduler), telegram=telegram_probe(watch),
        writes=asyncio.Lock() if sqlite else nullcontext(), updates=updates_probe(gate),
    )  # fmt: skip
    return HttpServer(build_web_app(deps, extra), settings.http_host, settings.http_port)


def scheduler_probe(scheduler: AsyncIOScheduler) -> Callable[[], str | None]:
    def problem() -> str | None:
        if not scheduler.running:
            return "the scheduler is not running"
        job = scheduler.get_job("drain")
        if job is None or job.next_run_time is None:
            return "the outbox drain is not scheduled"
        return None

    return problem


def telegram_probe(watch: TelegramWatch) -> Callable[[], TelegramState]:
    def state() -> TelegramState:
        return TelegramState(
            watch.last_success_at, watch.last_failure_at, watch.last_failure,
            watch.unreachable_since, watch.unreachable_calls,
        )  # fmt: skip

    return state


def updates_probe(gate: PollingGate | None) -> Callable[[], UpdatesState]:
    """Polling or standing by (and why), for /healthz; no gate: webhook mode."""

    def state() -> UpdatesState:
        if gate is None:
            return UpdatesState()
        lease = gate.lease
        if lease.polling and gate.conflict_since is not None:
            return UpdatesState("polling", False, (
                f"Telegram refuses getUpdates with 409 Conflict since "
                f"{gate.conflict_since:%Y-%m-%d %H:%M:%S} UTC ({gate.conflicts} times): "
                "another program polls with this bot's token, or a webhook is set"
            ))  # fmt: skip
        if lease.polling:
            return UpdatesState("polling", True, "this process polls Telegram")
        if lease.problem is not None:
            return UpdatesState(
                "standby", False, f"not polling: cannot take the poller lease ({lease.problem})"
            )
        if lease.other is not None:
            return UpdatesState("standby", True, (
                f"standing by: process {lease.other.holder} polls Telegram; this one "
                "takes over when it stops"
            ))  # fmt: skip
        return UpdatesState("standby", True, "not polling yet: taking the poller lease")

    return state


def update_observer(metrics: Metrics) -> Callable[[str, Any], None]:
    """Counts updates by outcome, and answers stored (the survey handlers return the
    answer's outcome)."""

    def observe(outcome: str, result: Any) -> None:
        metrics.count_update(outcome)
        if result is Outcome.RECORDED:
            metrics.count_answer()

    return observe
