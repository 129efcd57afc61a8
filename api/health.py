"""GET /healthz and GET /metrics: for the operator's load balancer and Prometheus; no key."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta

from aiohttp import web
from sqlalchemy import text

from api.deps import ApiDeps, TelegramState, deps_of, json_response
from api.metrics import CONTENT_TYPE
from api.models import CheckOut, HealthOut, TelegramCheckOut, UpdatesCheckOut
from storage import dispatches

DB_TIMEOUT = 2.0  # seconds; a health check must answer before the balancer gives up
# Failures alone are not an outage (one 5xx, one timeout): only failing with no success
# for this long is. Polling succeeds every few seconds; a webhook bot may be quiet longer.
TELEGRAM_STALE = timedelta(minutes=5)
# A streak of calls with no answer from Telegram (getUpdates, sends: refused, timed out,
# a 5xx) is an outage sooner: polling retries within seconds, so this is no blip.
TELEGRAM_UNREACHABLE = timedelta(seconds=30)


async def get_healthz(request: web.Request) -> web.Response:
    deps = deps_of(request)
    database = await _database(deps)
    problem = deps.scheduler()
    scheduler = CheckOut(ok=problem is None, detail=problem or "running")
    telegram = telegram_check(deps.telegram(), deps.clock())
    state = deps.updates()
    updates = UpdatesCheckOut(ok=state.ok, detail=state.detail, mode=state.mode)
    healthy = database.ok and scheduler.ok and telegram.ok and updates.ok
    body = HealthOut(
        status="ok" if healthy else "failing",
        database=database, scheduler=scheduler, telegram=telegram, updates=updates,
    )  # fmt: skip
    return json_response(body, status=200 if healthy else 503)


async def get_metrics(request: web.Request) -> web.Response:
    deps = deps_of(request)
    body = deps.metrics.render(await _queue_lag(deps), await _unknown(deps))
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def _queue_lag(deps: ApiDeps) -> float:
    """Seconds the oldest due wave has waited; NaN while the database does not answer, so
    the other metrics are still scraped when they matter most."""
    now = deps.clock()
    try:
        async with asyncio.timeout(DB_TIMEOUT), deps.sessions() as session:
            oldest = await dispatches.oldest_due(session, now)
    except Exception:  # whatever the driver raises; /healthz says what it is
        return math.nan
    return max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0


async def _unknown(deps: ApiDeps) -> float:
    """Waves whose send is unknown; NaN while the database does not answer."""
    try:
        async with asyncio.timeout(DB_TIMEOUT), deps.sessions() as session:
            return float(await dispatches.count_unknown(session))
    except Exception:  # whatever the driver raises; /healthz says what it is
        return math.nan


async def _database(deps: ApiDeps) -> CheckOut:
    try:
        async with asyncio.timeout(DB_TIMEOUT), deps.sessions() as session:
            await session.execute(text("SELECT 1"))
    except TimeoutError:
        return CheckOut(ok=False, detail=f"no answer within {DB_TIMEOUT:g} s")
    except Exception as error:  # whatever the driver raises, the check reports it
        return CheckOut(ok=False, detail=f"{type(error).__name__}: {_first_line(error)}")
    return CheckOut(ok=True, detail="reachable")


def telegram_check(state: TelegramState, now: datetime) -> TelegramCheckOut:
    success, failure = state.last_success_at, state.last_failure_at
    failing = failure is not None and (success is None or success < failure)
    since_down = state.unreachable_since
    unreachable = (
        since_down is not None
        and state.unreachable_calls >= 2
        and now - since_down >= TELEGRAM_UNREACHABLE
    )
    if failing and (success is None or now - success > TELEGRAM_STALE or unreachable):
        since = f"{success:%Y-%m-%d %H:%M:%S} UTC" if success else "start-up"
        detail = f"no successful call since {since}; last error: {state.last_failure}"
        if unreachable and since_down is not None:
            detail = (
                f"the Bot API is unreachable since {since_down:%Y-%m-%d %H:%M:%S} UTC "
                f"({state.unreachable_calls} calls failed); last error: {state.last_failure}"
            )
        return TelegramCheckOut(ok=False, detail=detail, last_success_at=success)
    detail = "no call yet" if success is None else "the last call failed" if failing else "ok"
    return TelegramCheckOut(ok=True, detail=detail, last_success_at=success)


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [""])[0][:200]
