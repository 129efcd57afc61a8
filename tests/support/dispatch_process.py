"""One `cjm run` process's outbox drain, alone in a child process: the multi-process
tests start several of these against one PostgreSQL backlog and one Redis.

    python -m tests.support.dispatch_process --database URL --api URL --redis URL
        --rate 40 [--window 8] [--lease 2] [--prefix KEYS]

Prints "ready", waits for a line on stdin, drains until no wave is pending or in
flight, then prints one JSON line of outcomes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import func, select

from bot.messenger import TelegramMessenger
from storage.db import make_engine, make_session_factory
from storage.models import Dispatch, DispatchStatus
from storage.shared_rate import SharedRateLimiter
from surveys.dispatcher import WaveDispatcher
from surveys.loader import load_survey
from surveys.timing import SendingRules

TOKEN = "42:MULTIPROCESS-TEST-TOKEN"
OPEN = (DispatchStatus.PENDING, DispatchStatus.SENDING)


def utc_now() -> datetime:
    return datetime.now(UTC)


async def main(args: argparse.Namespace) -> dict[str, int]:
    engine = make_engine(args.database)
    sessions = make_session_factory(engine)
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(args.api)))
    limiter = SharedRateLimiter.from_url(args.redis, args.prefix or f"cjm:bot{bot.id}", args.rate)
    waves = WaveDispatcher(
        sessions, load_survey("cafe"), TelegramMessenger(bot, 10), limiter,
        SendingRules(ZoneInfo("UTC"), None), utc_now, "en", window=args.window,
        lease=timedelta(seconds=args.lease),
    )  # fmt: skip
    outcomes: Counter[str] = Counter()
    print("ready", flush=True)
    # Every process starts draining together, when the test says so.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    try:
        while True:
            outcomes.update((await waves.drain()).outcomes)
            async with sessions() as session:
                left = await session.scalar(select(func.count()).where(Dispatch.status.in_(OPEN)))
            if not left:
                break
            await asyncio.sleep(0.05)  # another process holds the rest, or a lease runs
    finally:
        await limiter.close()
        await bot.session.close()
        await engine.dispose()
    return dict(outcomes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", required=True)
    parser.add_argument("--api", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--prefix", help="Redis key prefix (default: per bot, as in cjm run)")
    result = asyncio.run(main(parser.parse_args()))
    sys.stdout.write(json.dumps(result) + "\n")
