"""Orders accepted per second through POST /api/v1/orders, over loopback HTTP.

One server process (the app as `cjm run` builds it, serving only HTTP; the bot's session
is the zero-latency fake, so nothing reaches Telegram), pinned with `taskset -c 0` when
taskset exists; the load generator is this process, on the other core, with N concurrent
keep-alive connections (aiohttp). Every order is a new customer (the `awaiting_link`
path: customer, order and deep-link token inserted), so each one writes.

    taskset -c 1 .venv/bin/python -m bench.api                       # SQLite
    taskset -c 1 .venv/bin/python -m bench.api --database postgres   # CJM_TEST_POSTGRES_URL

Phases: `single` (one order per request, closed loop, --concurrency connections),
`batch` (--batch orders per request), `rate` (single orders open loop at --rate requests
per second for --seconds; latency is measured from each request's scheduled start, so a
stall is not hidden by the generator waiting for it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiohttp import ClientSession, TCPConnector

from bench.common import machine, median, percentile, write_result
from bench.fakes import TOKEN, ZeroLatencySession
from bot.app import build_app
from bot.settings import Settings
from storage.db import make_engine
from storage.migrate import upgrade
from tests.support.databases import (
    drop_postgres_database,
    empty_postgres_database,
    postgres_base_url,
)

KEY = "bench-api-key"
ROOT = Path(__file__).resolve().parents[1]


# -- the server process ------------------------------------------------------------------


async def serve(database_url: str) -> None:
    settings = Settings.explicit(
        bot_token=TOKEN, bot_username="bench_bot", database_url=database_url, survey="cafe",
        api_key=KEY, http_host="127.0.0.1", http_port=0, quiet_hours="off",
    )  # fmt: skip
    app = await build_app(settings, bot=Bot(TOKEN, session=ZeroLatencySession()))
    await app.http.start()
    print(app.http.url, flush=True)  # the driver waits for this line
    try:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
    finally:
        await app.close()


# -- the load generator ------------------------------------------------------------------


def order(run: str, i: int) -> dict[str, Any]:
    return {"external_id": f"{run}-{i}", "customer_ref": f"{run}-c{i}", "segment": "bench"}


async def closed_loop(
    http: ClientSession, requests: list[Any], path: str, concurrency: int
) -> tuple[float, list[float]]:
    """Each connection sends its next request as soon as the last one is answered."""
    queue = list(reversed(requests))
    latencies: list[float] = []

    async def worker() -> None:
        while queue:
            body = queue.pop()
            latencies.append(await timed_post(http, path, body))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


async def timed_post(http: ClientSession, path: str, body: Any, since: float = 0.0) -> float:
    start = since or time.perf_counter()
    async with http.post(path, json=body, headers={"Authorization": f"Bearer {KEY}"}) as r:
        await r.read()
        if r.status not in (200, 201):
            raise SystemExit(f"{path}: {r.status} {await r.text()}")
    return time.perf_counter() - start


async def open_loop(
    http: ClientSession, run: str, rate: float, seconds: float
) -> tuple[float, list[float]]:
    """Requests start on a fixed schedule whatever the answers do."""
    total = int(rate * seconds)
    latencies: list[float] = []
    tasks = []
    started = time.perf_counter()
    for i in range(total):
        due = started + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        request = timed_post(http, "/api/v1/orders", order(run, i), since=due)
        tasks.append(asyncio.create_task(_record(request, latencies)))
    await asyncio.gather(*tasks)
    return time.perf_counter() - started, latencies


async def _record(request: Awaitable[float], latencies: list[float]) -> None:
    latencies.append(await request)


def summary(orders: int, elapsed: float, latencies: list[float], cpu: float) -> dict[str, Any]:
    return {
        "orders": orders, "requests": len(latencies), "seconds": round(elapsed, 3),
        "orders_per_s": round(orders / elapsed, 1),
        # Robust to other jobs on the core: what one order costs the server.
        "server_cpu_ms_per_order": round(cpu / orders * 1000, 3),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
    }  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(url: str, server: int, args: argparse.Namespace) -> dict[str, Any]:
    connector = TCPConnector(limit=args.concurrency)
    results: dict[str, Any] = {"single": [], "batch": [], "rate": []}

    async def phase(name: str, run: Awaitable[tuple[float, list[float]]], orders: int) -> None:
        cpu = cpu_seconds(server)
        elapsed, latencies = await run
        used = cpu_seconds(server) - cpu
        results[name].append(summary(orders or len(latencies), elapsed, latencies, used))

    async with ClientSession(base_url=url, connector=connector) as http:
        warm = [order(f"warm{uuid.uuid4().hex[:6]}", i) for i in range(args.warmup)]
        await closed_loop(http, warm, "/api/v1/orders", args.concurrency)
        for _ in range(args.repeat):
            run = uuid.uuid4().hex[:8]
            bodies = [order(run, i) for i in range(args.orders)]
            single = closed_loop(http, bodies, "/api/v1/orders", args.concurrency)
            await phase("single", single, args.orders)
            run = uuid.uuid4().hex[:8]
            batches = [
                {"orders": [order(run, i) for i in range(s, s + args.batch)]}
                for s in range(0, args.orders, args.batch)
            ]
            batch = closed_loop(http, batches, "/api/v1/orders/batch", args.concurrency)
            await phase("batch", batch, len(batches) * args.batch)
            rate = open_loop(http, uuid.uuid4().hex[:8], args.rate, args.seconds)
            await phase("rate", rate, 0)
    return results


# -- the benchmark -----------------------------------------------------------------------


async def database(kind: str, workdir: Path) -> tuple[str, Callable[[], Awaitable[None]]]:
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"

        async def nothing() -> None:
            return None

        cleanup = nothing
    else:
        base = postgres_base_url()
        if base is None:
            raise SystemExit("set CJM_TEST_POSTGRES_URL to bench on PostgreSQL")
        url = await empty_postgres_database(base, prefix="cjm_bench")

        async def cleanup() -> None:
            await drop_postgres_database(base, url)

    engine = make_engine(url)
    await upgrade(engine)
    await engine.dispose()
    return url, cleanup


def start_server(url: str, pin: bool) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "bench.api", "--serve", url]
    if pin and shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    server = subprocess.Popen(
        command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    line = server.stdout.readline().strip()
    if not line.startswith("http://"):
        server.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return server, line


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.serve:
        asyncio.run(serve(args.serve))
        return 0
    if args.pin and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the server has core 0
    with tempfile.TemporaryDirectory() as tmp:
        url, cleanup = asyncio.run(database(args.database, Path(tmp)))
        server, address = start_server(url, args.pin)
        try:
            results = asyncio.run(drive(address, server.pid, args))
        finally:
            assert server.stdin is not None
            server.stdin.close()
            server.wait(30)
            asyncio.run(cleanup())
    report(args, results)
    return 0


def report(args: argparse.Namespace, results: dict[str, Any]) -> None:
    rows = []
    for phase in ("single", "batch", "rate"):
        runs = results[phase]
        throughput = median([r["orders_per_s"] for r in runs])
        p50 = median([r["p50_ms"] for r in runs])
        p99 = median([r["p99_ms"] for r in runs])
        cpu = median([r["server_cpu_ms_per_order"] for r in runs])
        line = f"{phase:>6}: {throughput:8.1f} orders/s   p50 {p50:7.2f} ms"
        rows.append(f"{line}   p99 {p99:7.2f} ms   server CPU {cpu:.2f} ms/order")
    print(f"bench.api on {args.database}, {args.concurrency} connections (median of runs)")
    print("\n".join(rows))
    path = write_result(
        f"api-{args.database}", {"args": vars(args), "results": results, "machine": machine()}
    )
    print(f"results: {path.relative_to(ROOT)}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench.api", description=__doc__.splitlines()[0])
    p.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--orders", type=int, default=2000, help="per phase and run")
    p.add_argument("--batch", type=int, default=100, help="orders per batch request")
    p.add_argument("--concurrency", type=int, default=16, help="connections")
    p.add_argument("--rate", type=float, default=200, help="requests/s of the rate phase")
    p.add_argument("--seconds", type=float, default=15, help="length of the rate phase")
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-pin", dest="pin", action="store_false", help="no taskset/affinity")
    p.add_argument("--serve", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    return p


if __name__ == "__main__":
    sys.exit(main())
