"""Waves dispatched per second by 1, 2 and 3 processes draining one PostgreSQL outbox.

    CJM_TEST_POSTGRES_URL=postgresql://127.0.0.1/test .venv/bin/python -m bench.dispatch_scale
    ... --waves 20000 --processes 1,2,3 --window 64

The send rate limit is off and Telegram is a zero-latency in-process fake (bench.fakes),
so what is measured is the product's own work per wave — claim (`FOR UPDATE SKIP
LOCKED`), render, send, settle — and how it divides among processes. Each round seeds
a fresh backlog of `--waves` due waves, starts the processes (each imports aiogram and
connects first), then tells them all to go at once; the time is from "go" to the last
process finishing. Not pinned to one core: the point is how processes share the
machine's cores (2 here) with PostgreSQL itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select

from bench.common import machine, write_result
from bench.fakes import make_bot
from bot.messenger import TelegramMessenger
from storage.db import make_engine, make_session_factory
from storage.models import Customer, Dispatch, DispatchStatus, Order
from surveys.dispatcher import WaveDispatcher
from surveys.loader import load_survey
from surveys.ratelimit import LocalRateLimiter
from surveys.timing import SendingRules
from tests.support.databases import (
    drop_postgres_database,
    postgres_base_url,
    postgres_database,
)

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 5000
OPEN = (DispatchStatus.PENDING, DispatchStatus.SENDING)


def utc_now() -> datetime:
    return datetime.now(UTC)


async def seed(url: str, waves: int) -> None:
    now = utc_now()
    engine = make_engine(url)
    async with engine.begin() as connection:
        for start in range(1, waves + 1, CHUNK):
            ids = range(start, min(waves, start + CHUNK - 1) + 1)
            await connection.execute(insert(Customer), [
                {"id": i, "ref": f"c{i}", "tg_user_id": 700_000 + i, "chat_id": 700_000 + i,
                 "locale": "en", "status": "active", "consented_at": now, "created_at": now}
                for i in ids
            ])  # fmt: skip
            await connection.execute(insert(Order), [
                {"id": i, "external_id": f"o{i}", "customer_id": i, "survey_id": "cafe",
                 "source": "bench", "journey": "scheduled", "purchased_at": now,
                 "created_at": now}
                for i in ids
            ])  # fmt: skip
            await connection.execute(insert(Dispatch), [
                {"order_id": i, "customer_id": i, "survey_id": "cafe",
                 "wave_id": "after_purchase", "status": "pending",
                 "due_at": now - timedelta(seconds=1 + (i * 7919) % 7200), "attempts": 0,
                 "progress": {}, "created_at": now}
                for i in ids
            ])  # fmt: skip
    await engine.dispose()


async def work(url: str, window: int) -> dict[str, Any]:
    """One process: drain until nothing is pending or in flight."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    bot = make_bot(wire=True)
    waves = WaveDispatcher(
        sessions, load_survey("cafe"), TelegramMessenger(bot, 20), LocalRateLimiter(0),
        SendingRules(ZoneInfo("UTC"), None), utc_now, "en", window=window,
        lease=timedelta(minutes=5),
    )  # fmt: skip
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    started = time.perf_counter()
    sent = 0
    while True:
        sent += (await waves.drain()).sent
        async with sessions() as session:
            left = await session.scalar(select(func.count()).where(Dispatch.status.in_(OPEN)))
        if not left:
            break
    seconds = time.perf_counter() - started
    await engine.dispose()
    return {"sent": sent, "seconds": seconds}


def one_round(url: str, processes: int, window: int) -> dict[str, Any]:
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.dispatch_scale",
                "--worker",
                url,
                "--window",
                str(window),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    for child in children:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
    started = time.perf_counter()
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    results = [json.loads(child.communicate()[0].strip().splitlines()[-1]) for child in children]
    wall = time.perf_counter() - started
    if any(child.returncode for child in children):
        raise SystemExit("a worker failed")
    return {"wall_seconds": wall, "workers": results}


async def fresh_database(waves: int) -> tuple[str, str]:
    base = postgres_base_url()
    if base is None:
        raise SystemExit("set CJM_TEST_POSTGRES_URL to bench on PostgreSQL")
    url = await postgres_database(base)
    await seed(url, waves)
    return base, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--waves", type=int, default=20_000)
    parser.add_argument("--processes", default="1,2,3")
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(asyncio.run(work(args.worker, args.window))))
        return
    rounds: dict[int, list[dict[str, Any]]] = {}
    for _ in range(args.repeat):
        for processes in (int(p) for p in args.processes.split(",")):
            base, url = asyncio.run(fresh_database(args.waves))
            try:
                result = one_round(url, processes, args.window)
            finally:
                asyncio.run(drop_postgres_database(base, url))
            sent = sum(worker["sent"] for worker in result["workers"])
            assert sent == args.waves, (sent, args.waves)
            result["waves_per_second"] = args.waves / result["wall_seconds"]
            rounds.setdefault(processes, []).append(result)
            print(processes, "process(es):", round(result["waves_per_second"]), "waves/s",
                  [w["sent"] for w in result["workers"]], flush=True)  # fmt: skip
    best = {p: max(r["waves_per_second"] for r in rs) for p, rs in rounds.items()}
    one = best.get(1)
    payload = {
        "waves": args.waves,
        "window": args.window,
        "best_waves_per_second": {p: round(v) for p, v in best.items()},
        "speedup_vs_one": {p: round(v / one, 2) for p, v in best.items()} if one else {},
        "rounds": rounds,
        "machine": machine(),
    }
    path = write_result("dispatch-scale", payload)
    print("best", payload["best_waves_per_second"], "speedup", payload["speedup_vs_one"])
    print("→", path)


if __name__ == "__main__":
    main()
