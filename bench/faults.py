"""Delivery under Telegram's faults and under restarts: a backlog of `--waves` due waves
drained by a real `cjm run` process against the fake Bot API over HTTP
(tests/support/fake_bot_api.py), with faults injected while it drains.

Per scenario it prints what the customers saw and what the database holds at the end:

  delivered/expected  customers with the first question on their screen
  duplicates          customers who got it more than once
  unknown             waves recorded as *unknown* (a request written, its answer lost)
  stranded            customers without the question whose wave is not *unknown*
                      either (lost for good, or still waiting)
  drain               seconds from the first question sent until no wave is pending or
                      claimed (restarts included; the process's start-up is not)

Scenarios (`--scenarios`, default all):
  baseline     no fault
  5xx          1 s of 502 and 1 s of 503 HTML pages from a proxy, then 2 s of JSON
               502s; twice
  lost         10 answers lost after the send was performed (a 500 after the send, a
               connection dropped after it, a request that hangs past the timeout)
  resets       the Bot API refuses connections (down and back) 3 times for 1 s
  down         the Bot API unreachable for `--down` seconds (default 60)
  sigkill      SIGKILL at 80, 160 and 240 sends; restarted each time (lease 2 s)
  sigterm      SIGTERM at 80, 160 and 240 sends; restarted each time
  pg-cut       PostgreSQL behind a TCP proxy (tests/support/tcp_proxy.py): every
               connection cut and new ones refused for 3 s, twice, mid-window
  pg-taps      the same cut while customers tap their answers: each customer answers
               the first question; the second question must reach every one of them
  redis-cut    three processes sharing PostgreSQL and Redis; Redis (behind the proxy)
               cut for 6 s mid-drain: each process falls back to its own limit

The last three need PostgreSQL (--postgres, or CJM_TEST_POSTGRES_URL) and redis-cut
Redis too (--redis, or CJM_TEST_REDIS_URL); without them they are skipped.

    .venv/bin/python -m bench.faults [--waves 320] [--rate 25] [--scenarios 5xx,sigkill]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.common import machine, write_result
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import Answer, Customer, Dispatch, DispatchStatus
from tests.support.databases import (
    REDIS_ENV,
    drop_postgres_database,
    empty_postgres_database,
    postgres_base_url,
)
from tests.support.fake_bot_api import ApiError, FakeBotAPI, _Action
from tests.support.seed import due_in_order, linked_waves
from tests.support.tcp_proxy import TcpProxy, target_of

ROOT = Path(__file__).resolve().parent.parent
FIRST_QUESTION = "How did you first hear about us?"
TAPPED = "From friends or family"
SECOND_QUESTION = "How easy was it to find us?"
OPEN = (DispatchStatus.PENDING, DispatchStatus.SENDING)
FIRST_CHAT = 30_001


class FaultyBotAPI(FakeBotAPI):
    """The fake Bot API, plus faults that last a while rather than a number of calls."""

    def __init__(self) -> None:
        super().__init__()
        self.until = 0.0
        self.action: _Action | None = None

    def for_a_while(self, seconds: float, action: _Action) -> None:
        self.until, self.action = time.monotonic() + seconds, action

    def _take_action(self, method: str) -> _Action | None:
        if method.lower() == "sendmessage" and time.monotonic() < self.until:
            return self.action
        return super()._take_action(method)


@dataclass
class Outcome:
    scenario: str
    expected: int
    delivered: int
    duplicates: int
    unknown: int
    stranded: int
    drain_s: float
    restarts: int = 0
    note: str = ""
    peak: int = 0  # most first questions sent within one second
    on_screen: Counter[int] = field(default_factory=Counter, repr=False)


async def seed(database_url: str, waves: int) -> None:
    engine = make_engine(database_url)
    await upgrade(engine)
    await engine.dispose()
    chats = range(FIRST_CHAT, FIRST_CHAT + waves)
    step = timedelta(milliseconds=1)
    await linked_waves(database_url, due_in_order(chats, datetime.now(UTC), step), "bench")


async def start(
    api: FakeBotAPI, database_url: str, log: Path, rate: float, **settings: str
) -> asyncio.subprocess.Process:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CJM_")}
    env.update(
        CJM_BOT_TOKEN="123456:TEST", CJM_TELEGRAM_API_URL=api.url, CJM_DATABASE_URL=database_url,
        CJM_QUIET_HOURS="off", CJM_SEND_RATE=str(rate), CJM_DISPATCH_INTERVAL="0.5",
        CJM_REQUEST_TIMEOUT="2", CJM_HTTP_PORT="0", CJM_SEND_LEASE="2s", CJM_STOP_TIMEOUT="5",
    )  # fmt: skip
    env.update({f"CJM_{key}": value for key, value in settings.items()})
    with log.open("ab") as output:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", cwd=ROOT, env=env,
            stdout=output, stderr=output,
        )  # fmt: skip


async def open_waves(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            return int(
                await connection.scalar(select(func.count()).where(Dispatch.status.in_(OPEN))) or 0
            )
    finally:
        await engine.dispose()


async def statuses(database_url: str) -> dict[int, str]:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(Customer.chat_id, Dispatch.status).join(
                    Customer, Customer.id == Dispatch.customer_id
                )
            )
            return {int(chat or 0): str(status) for chat, status in rows}
    finally:
        await engine.dispose()


async def sends(api: FakeBotAPI, count: int) -> None:
    await api.wait_for(lambda call: call.method.lower() == "sendmessage", count, timeout=600)


async def sends_or_settled(api: FakeBotAPI, count: int, database_url: str) -> bool:
    """Whether `count` questions were sent before no wave was left to send."""
    while len(api.calls_of("sendMessage")) < count:
        if not await open_waves(database_url):
            return False
        await asyncio.sleep(0.1)
    return True


@dataclass
class Rig:
    """What a scenario's faults act on: the Bot API, and the proxies in front of
    PostgreSQL and Redis when the scenario runs on them."""

    api: FaultyBotAPI
    waves: int
    database: TcpProxy | None = None
    redis: TcpProxy | None = None
    cuts: list[tuple[float, float]] = field(default_factory=list)  # monotonic spans


Faults = Callable[[Rig], Coroutine[Any, Any, None]]


async def no_faults(rig: Rig) -> None:
    return None


async def gateway_bursts(rig: Rig) -> None:
    api, waves = rig.api, rig.waves
    for at in (waves // 4, waves // 2):
        await sends(api, at)
        api.for_a_while(1, _Action("gateway", status=502))
        await asyncio.sleep(1)
        api.for_a_while(1, _Action("gateway", status=503))
        await asyncio.sleep(1)
        api.for_a_while(2, _Action("fail", ApiError(502, "Bad Gateway")))


async def lost_answers(rig: Rig) -> None:
    api, waves = rig.api, rig.waves
    await sends(api, waves // 5)
    api.fail_after_next("sendMessage", 500, "Internal Server Error", times=4)
    await sends(api, waves // 2)
    api.drop_next("sendMessage", times=4)
    await sends(api, 3 * waves // 4)
    api.hang_next("sendMessage", times=2)


async def refused(rig: Rig) -> None:
    api, waves = rig.api, rig.waves
    for at in (waves // 4, waves // 2, 3 * waves // 4):
        await sends(api, at)
        await api.go_down()
        await asyncio.sleep(1)
        await api.come_back()


def outage(seconds: float) -> Faults:
    async def down(rig: Rig) -> None:
        api, waves = rig.api, rig.waves
        await sends(api, waves // 4)
        await api.go_down()
        await asyncio.sleep(seconds)
        await api.come_back()

    return down


def database_cut(seconds: float, times: int = 2) -> Faults:
    """PostgreSQL's connections cut, and new ones refused, for `seconds`, `times` times
    spread over the drain (or over the taps), each in the middle of a send window."""

    async def cut(rig: Rig) -> None:
        assert rig.database is not None
        for n in range(1, times + 1):
            await sends(rig.api, n * rig.waves // (times + 1) + 3)
            await rig.database.cut()
            await asyncio.sleep(seconds)
            await rig.database.restore()

    return cut


def redis_cut(seconds: float) -> Faults:
    async def cut(rig: Rig) -> None:
        assert rig.redis is not None
        await sends(rig.api, rig.waves // 3)
        began = time.monotonic()
        await rig.redis.cut()
        await asyncio.sleep(seconds)
        await rig.redis.restore()
        rig.cuts.append((began, time.monotonic()))

    return cut


@dataclass(frozen=True)
class Scenario:
    faults: Faults
    kill: signal.Signals | None = None
    database: str = "sqlite"  # or "postgresql": a fresh database behind the TCP proxy
    redis: bool = False  # CJM_REDIS_URL through a TCP proxy
    processes: int = 1
    taps: bool = False  # customers answer the first question as it arrives
    settings: dict[str, str] = field(default_factory=dict)  # CJM_* of the processes


@dataclass
class Backing:
    """The databases of one run: `url` read by the bench, `process_url` by `cjm run`."""

    url: str
    process_url: str
    database: TcpProxy | None = None
    redis: TcpProxy | None = None
    redis_url: str | None = None


@asynccontextmanager
async def backing(
    scenario: Scenario, work: Path, name: str, postgres: str | None, redis: str | None
) -> AsyncIterator[Backing]:
    if scenario.database == "sqlite":
        url = f"sqlite+aiosqlite:///{work / f'{name}.db'}"
        yield Backing(url, url)
        return
    assert postgres is not None
    url = await empty_postgres_database(postgres, "cjm_faults")
    try:
        async with contextlib.AsyncExitStack() as stack:
            proxy = await stack.enter_async_context(TcpProxy(*target_of(url)))
            result = Backing(url, proxy.url_for(url), proxy)
            if scenario.redis:
                assert redis is not None
                result.redis = await stack.enter_async_context(TcpProxy(*target_of(redis)))
                result.redis_url = result.redis.url_for(redis)
            yield result
    finally:
        await drop_postgres_database(postgres, url)


async def tap_first_questions(api: FakeBotAPI, waves: int) -> None:
    """Each customer taps an answer to the first question as soon as it is on screen."""
    tapped: set[int] = set()
    while len(tapped) < waves:
        for call in api.calls_of("sendMessage"):
            chat = int(call.params["chat_id"])
            if chat in tapped or not call.ok or FIRST_QUESTION not in str(call.params["text"]):
                continue
            api.user(chat, f"Guest {chat}").click(call, TAPPED)
            tapped.add(chat)
        await asyncio.sleep(0.05)


def second_questions(api: FakeBotAPI, waves: int) -> Counter[int]:
    return Counter(
        int(call.params["chat_id"])
        for call in api.calls_of("sendMessage")
        if call.ok and SECOND_QUESTION in str(call.params["text"])
    )


async def answers_stored(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            query = select(func.count()).where(Answer.question_id == "heard_from")
            return int(await connection.scalar(query) or 0)
    finally:
        await engine.dispose()


async def settled(rig: Rig, scenario: Scenario, database_url: str) -> bool:
    if await open_waves(database_url):
        return False
    if not scenario.taps:
        return True
    # Every tap stored and answered with the next question, every update acknowledged.
    return len(second_questions(rig.api, rig.waves)) >= rig.waves and not (rig.api.pending_updates)


def most_in_one_second(times: list[float]) -> int:
    best, first = 0, 0
    for last, moment in enumerate(times):
        while moment - times[first] >= 1.0:
            first += 1
        best = max(best, last - first + 1)
    return best


async def run_scenario(
    name: str,
    scenario: Scenario,
    waves: int,
    rate: float,
    work: Path,
    postgres: str | None = None,
    redis: str | None = None,
) -> Outcome:
    async with backing(scenario, work, name, postgres, redis) as db:
        await seed(db.url, waves)
        async with FaultyBotAPI() as api:
            rig = Rig(api, waves, db.database, db.redis)
            outcome = await drive(name, scenario, rig, db, rate, work / f"{name}.log")
        if scenario.taps:
            stored = await answers_stored(db.url)
            outcome.note = f"answers stored {stored}/{waves}, updates acknowledged"
            states = await statuses(db.url)
            outcome.unknown = sum(status == "unknown" for status in states.values())
            return outcome
        return await tally(outcome, db.url, waves)


async def drive(
    name: str, scenario: Scenario, rig: Rig, db: Backing, rate: float, log: Path
) -> Outcome:
    api, waves = rig.api, rig.waves
    extra = dict(scenario.settings, **({"REDIS_URL": db.redis_url} if db.redis_url else {}))
    restarts = 0
    began = time.monotonic()
    processes = [
        await start(api, db.process_url, log, rate, **extra) for _ in range(scenario.processes)
    ]
    injecting = asyncio.create_task(scenario.faults(rig))
    tapping = asyncio.create_task(
        tap_first_questions(api, waves) if scenario.taps else no_faults(rig)
    )
    try:
        if scenario.kill is not None:
            for at in (waves // 4, waves // 2, 3 * waves // 4):
                if not await sends_or_settled(api, at, db.url):
                    break  # nothing left to send (waves lost to earlier kills)
                processes[0].send_signal(scenario.kill)
                await processes[0].wait()
                restarts += 1
                processes[0] = await start(api, db.process_url, log, rate, **extra)
        async with asyncio.timeout(900):
            while not await settled(rig, scenario, db.url):
                for task in (injecting, tapping):
                    if task.done():
                        task.result()  # a fault that could not be injected: say so
                await asyncio.sleep(0.25)
        drained = time.monotonic() - (
            api.calls_of("sendMessage")[0].at if api.calls_of("sendMessage") else began
        )
        await injecting
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await process.wait()
        injecting.cancel()
        tapping.cancel()
    sent = [
        c.at
        for c in api.calls_of("sendMessage")
        if c.ok and FIRST_QUESTION in str(c.params["text"])
    ]
    outcome = Outcome(name, waves, 0, 0, 0, 0, round(drained, 1), restarts)
    outcome.peak = most_in_one_second(sorted(sent))
    for began, ended in rig.cuts:
        during = sorted(at for at in sent if began <= at <= ended)
        outcome.note = f"during the cut {len(during)} sent, peak {most_in_one_second(during)}/s"
    if scenario.taps:
        seen = second_questions(api, waves)
        outcome.delivered = len(seen)
        outcome.duplicates = sum(n > 1 for n in seen.values())
        outcome.stranded = waves - len(seen)
    outcome.on_screen = Counter(
        int(m["chat"]["id"])
        for chat in range(FIRST_CHAT, FIRST_CHAT + waves)
        for m in api.messages_to(chat)
        if FIRST_QUESTION in str(m.get("text", ""))
    )
    return outcome


async def tally(outcome: Outcome, database_url: str, waves: int) -> Outcome:
    on_screen = outcome.on_screen
    states = await statuses(database_url)
    outcome.delivered = len(on_screen)
    outcome.duplicates = sum(n > 1 for n in on_screen.values())
    outcome.unknown = sum(status == "unknown" for status in states.values())
    outcome.stranded = sum(
        1 for chat, status in states.items() if chat not in on_screen and status != "unknown"
    )
    return outcome


SCENARIOS: dict[str, Scenario] = {
    "baseline": Scenario(no_faults),
    "5xx": Scenario(gateway_bursts),
    "lost": Scenario(lost_answers),
    "resets": Scenario(refused),
    "sigkill": Scenario(no_faults, signal.SIGKILL),
    "sigterm": Scenario(no_faults, signal.SIGTERM),
    "pg-cut": Scenario(database_cut(3), database="postgresql"),
    "pg-taps": Scenario(database_cut(3), database="postgresql", taps=True),
    # A lease longer than a request on a loaded machine: with 2 s, one process may take
    # another's request still in flight for a dead process's, and mark it unknown.
    "redis-cut": Scenario(
        redis_cut(6),
        database="postgresql",
        redis=True,
        processes=3,
        settings={"SEND_LEASE": "15s"},
    ),
}


def report(outcome: Outcome) -> str:
    return (
        f"{outcome.scenario:>9}: delivered {outcome.delivered}/{outcome.expected}, "
        f"duplicates {outcome.duplicates}, unknown {outcome.unknown}, "
        f"stranded {outcome.stranded}, drain {outcome.drain_s:.1f} s, "
        f"peak {outcome.peak}/s"
        + (f" ({outcome.restarts} restarts)" if outcome.restarts else "")
        + (f"; {outcome.note}" if outcome.note else "")
    )


async def main(args: argparse.Namespace) -> list[Outcome]:
    scenarios = dict(SCENARIOS, down=Scenario(outage(args.down)))
    chosen = args.scenarios.split(",") if args.scenarios else list(scenarios)
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="cjm-faults-") as scratch:
        tmp = args.logs or scratch
        for name in chosen:
            scenario = scenarios[name]
            if (scenario.database == "postgresql" and not args.postgres) or (
                scenario.redis and not args.redis
            ):
                print(f"{name:>9}: skipped (needs --postgres{' and --redis' * scenario.redis})")
                continue
            outcome = await run_scenario(
                name, scenario, args.waves, args.rate, Path(tmp), args.postgres, args.redis
            )
            outcomes.append(outcome)
            print(report(outcome), flush=True)
    return outcomes


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--waves", type=int, default=320)
    parser.add_argument("--rate", type=float, default=25.0, help="CJM_SEND_RATE")
    parser.add_argument("--down", type=float, default=60.0, help="seconds of the outage")
    parser.add_argument("--scenarios", help="comma-separated; default all")
    parser.add_argument("--logs", help="keep the processes' logs in this directory")
    parser.add_argument("--postgres", default=postgres_base_url(), help="server URL")
    parser.add_argument("--redis", default=os.environ.get(REDIS_ENV), help="Redis URL")
    arguments = parser.parse_args()
    results = asyncio.run(main(arguments))
    payload: dict[str, Any] = {
        "machine": machine(), "waves": arguments.waves, "rate": arguments.rate,
        "scenarios": [
            {k: v for k, v in asdict(o).items() if k != "on_screen"} for o in results
        ],
    }  # fmt: skip
    print(write_result("faults", payload))
