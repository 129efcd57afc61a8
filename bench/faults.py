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

    .venv/bin/python -m bench.faults [--waves 320] [--rate 25] [--scenarios 5xx,sigkill]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.common import machine, write_result
from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.models import Customer, CustomerStatus, Dispatch, DispatchStatus, Journey, Order
from tests.support.fake_bot_api import ApiError, FakeBotAPI, _Action

ROOT = Path(__file__).resolve().parent.parent
FIRST_QUESTION = "How did you first hear about us?"
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


async def seed(database_url: str, waves: int) -> None:
    now = datetime.now(UTC)
    engine = make_engine(database_url)
    await upgrade(engine)
    async with make_session_factory(engine).begin() as session:
        for n in range(waves):
            chat_id = FIRST_CHAT + n
            customer = Customer(
                ref=f"guest-{chat_id}", tg_user_id=chat_id, chat_id=chat_id, locale="en",
                status=CustomerStatus.ACTIVE, consented_at=now, created_at=now,
            )  # fmt: skip
            session.add(customer)
            await session.flush()
            order = Order(
                external_id=f"order-{chat_id}", customer_id=customer.id, survey_id="cafe",
                source="bench", journey=Journey.SCHEDULED, purchased_at=now - timedelta(hours=3),
                journey_started_at=now, created_at=now,
            )  # fmt: skip
            session.add(order)
            await session.flush()
            session.add(
                Dispatch(
                    order_id=order.id, customer_id=customer.id, survey_id="cafe",
                    wave_id="after_purchase", status=DispatchStatus.PENDING, attempts=0,
                    due_at=now - timedelta(minutes=30) + timedelta(milliseconds=n),
                    progress={}, created_at=now,
                )
            )  # fmt: skip
    await engine.dispose()


async def start(
    api: FakeBotAPI, database_url: str, log: Path, rate: float
) -> asyncio.subprocess.Process:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CJM_")}
    env.update(
        CJM_BOT_TOKEN="123456:TEST", CJM_TELEGRAM_API_URL=api.url, CJM_DATABASE_URL=database_url,
        CJM_QUIET_HOURS="off", CJM_SEND_RATE=str(rate), CJM_DISPATCH_INTERVAL="0.5",
        CJM_REQUEST_TIMEOUT="2", CJM_HTTP_PORT="0", CJM_SEND_LEASE="2s", CJM_STOP_TIMEOUT="5",
    )  # fmt: skip
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


Faults = Callable[[FaultyBotAPI, int], Coroutine[Any, Any, None]]


async def no_faults(api: FaultyBotAPI, waves: int) -> None:
    return None


async def gateway_bursts(api: FaultyBotAPI, waves: int) -> None:
    for at in (waves // 4, waves // 2):
        await sends(api, at)
        api.for_a_while(1, _Action("gateway", status=502))
        await asyncio.sleep(1)
        api.for_a_while(1, _Action("gateway", status=503))
        await asyncio.sleep(1)
        api.for_a_while(2, _Action("fail", ApiError(502, "Bad Gateway")))


async def lost_answers(api: FaultyBotAPI, waves: int) -> None:
    await sends(api, waves // 5)
    api.fail_after_next("sendMessage", 500, "Internal Server Error", times=4)
    await sends(api, waves // 2)
    api.drop_next("sendMessage", times=4)
    await sends(api, 3 * waves // 4)
    api.hang_next("sendMessage", times=2)


async def refused(api: FaultyBotAPI, waves: int) -> None:
    for at in (waves // 4, waves // 2, 3 * waves // 4):
        await sends(api, at)
        await api.go_down()
        await asyncio.sleep(1)
        await api.come_back()


def outage(seconds: float) -> Faults:
    async def down(api: FaultyBotAPI, waves: int) -> None:
        await sends(api, waves // 4)
        await api.go_down()
        await asyncio.sleep(seconds)
        await api.come_back()

    return down


async def run_scenario(
    name: str, waves: int, rate: float, faults: Faults, kill: signal.Signals | None, work: Path
) -> Outcome:
    database_url = f"sqlite+aiosqlite:///{work / f'{name}.db'}"
    await seed(database_url, waves)
    log = work / f"{name}.log"
    restarts = 0
    async with FaultyBotAPI() as api:
        began = time.monotonic()
        process = await start(api, database_url, log, rate)
        injecting = asyncio.create_task(faults(api, waves))
        try:
            if kill is not None:
                for at in (waves // 4, waves // 2, 3 * waves // 4):
                    if not await sends_or_settled(api, at, database_url):
                        break  # nothing left to send (waves lost to earlier kills)
                    process.send_signal(kill)
                    await process.wait()
                    restarts += 1
                    process = await start(api, database_url, log, rate)
            async with asyncio.timeout(900):
                while await open_waves(database_url):
                    if injecting.done():
                        injecting.result()  # a fault that could not be injected: say so
                    await asyncio.sleep(0.25)
            drained = time.monotonic() - (
                api.calls_of("sendMessage")[0].at if api.calls_of("sendMessage") else began
            )
            await injecting
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await process.wait()
            injecting.cancel()
        on_screen = Counter(
            int(m["chat"]["id"])
            for chat in range(FIRST_CHAT, FIRST_CHAT + waves)
            for m in api.messages_to(chat)
            if FIRST_QUESTION in str(m.get("text", ""))
        )
    states = await statuses(database_url)
    unknown = sum(status == "unknown" for status in states.values())
    stranded = sum(
        1 for chat, status in states.items() if chat not in on_screen and status != "unknown"
    )
    return Outcome(
        name, waves, len(on_screen), sum(n > 1 for n in on_screen.values()), unknown,
        stranded, round(drained, 1), restarts,
    )  # fmt: skip


async def main(args: argparse.Namespace) -> list[Outcome]:
    scenarios: dict[str, tuple[Faults, signal.Signals | None]] = {
        "baseline": (no_faults, None),
        "5xx": (gateway_bursts, None),
        "lost": (lost_answers, None),
        "resets": (refused, None),
        "down": (outage(args.down), None),
        "sigkill": (no_faults, signal.SIGKILL),
        "sigterm": (no_faults, signal.SIGTERM),
    }
    chosen = args.scenarios.split(",") if args.scenarios else list(scenarios)
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="cjm-faults-") as tmp:
        for name in chosen:
            faults, kill = scenarios[name]
            outcome = await run_scenario(name, args.waves, args.rate, faults, kill, Path(tmp))
            outcomes.append(outcome)
            print(
                f"{name:>9}: delivered {outcome.delivered}/{outcome.expected}, "
                f"duplicates {outcome.duplicates}, unknown {outcome.unknown}, "
                f"stranded {outcome.stranded}, drain {outcome.drain_s:.1f} s"
                + (f" ({outcome.restarts} restarts)" if outcome.restarts else ""),
                flush=True,
            )
    return outcomes


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--waves", type=int, default=320)
    parser.add_argument("--rate", type=float, default=25.0, help="CJM_SEND_RATE")
    parser.add_argument("--down", type=float, default=60.0, help="seconds of the outage")
    parser.add_argument("--scenarios", help="comma-separated; default all")
    arguments = parser.parse_args()
    results = asyncio.run(main(arguments))
    payload: dict[str, Any] = {
        "machine": machine(), "waves": arguments.waves, "rate": arguments.rate,
        "scenarios": [asdict(o) for o in results],
    }  # fmt: skip
    print(write_result("faults", payload))
