"""The memory of `cjm run` as a shop sees it: VmRSS of the bot's process, idle, after an
owner's `/report` and after the weekly report (issue 11 item 9).

    .venv/bin/python -m bench.footprint                    # this checkout, ~3 min
    .venv/bin/python -m bench.footprint --code /tmp/old    # `cjm run` of another checkout

What runs: the demo (`cjm demo --customers 80`, its first orders 24 days ago) fills a
fresh SQLite file with a cafe's answers up to about today; the fake Bot API of the tests
(tests/support/fake_bot_api.py) serves on a local port; `python -m bot.cli run` starts
against both, as a shop would run it, with one owner and the weekly report scheduled at a
whole minute about two minutes ahead (last year's firing of that line marked as sent, so
nothing goes out at start). Then:

1. idle: once polling has gone quiet for `--settle` seconds, VmRSS of the process;
2. `/report 30d` from the owner; once the HTML file is sent and `--settle` seconds have
   passed, VmRSS again;
3. the schedule fires the weekly report; once its HTML file is sent, VmRSS again.

Meanwhile the bot's child processes (the report workers) are sampled every 0.1 s; the
largest VmHWM seen is their peak. VmHWM of the bot is its own peak. The result goes to
bench/results/footprint-*.json.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import machine, write_result
from tests.support.fake_bot_api import FakeBotAPI

OWNER = 1
ROOT = Path(__file__).resolve().parent.parent


def status(pid: int, field: str) -> float:
    """A /proc/<pid>/status figure in MiB (NaN once the process is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as lines:
            for line in lines:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as text:
                found += [int(child) for child in text.read().split()]
    except OSError:
        pass
    return found


class WorkerPeak:
    """The largest VmHWM of any child of the bot, sampled until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self.seen = 0
        self._known: set[int] = set()

    async def run(self) -> None:
        while True:
            for child in children(self.pid):
                hwm = status(child, "VmHWM")
                if not math.isnan(hwm):
                    self.peak = max(self.peak, hwm)
                    if child not in self._known:
                        self._known.add(child)
                        self.seen += 1
            await asyncio.sleep(0.1)


DEMO = """
import asyncio, sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from demo.simulation import DemoOptions, run_demo
start = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
options = DemoOptions(int(sys.argv[1]), out=Path(sys.argv[2]), start=start - timedelta(days=24))
asyncio.run(run_demo(options, sys.stdout))
"""


def fill_database(folder: Path, customers: int) -> None:
    """`cjm demo`, its first orders 24 days ago: the last whole week has answers (a week
    without any gets no weekly report)."""
    subprocess.run(
        [sys.executable, "-c", DEMO, str(customers), str(folder)],
        check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def settle_last_years_week(folder: Path, fires: datetime) -> None:
    """The cron line below fired a year ago too: that week counts as sent, or the bot
    would send it on start (the catch-up) and the idle figure would follow a report."""
    week = fires.replace(year=fires.year - 1).date().isoformat()
    stamp = (fires - timedelta(days=365)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with closing(sqlite3.connect(folder / "demo.db")) as db, db:
        db.execute(
            "INSERT INTO report_deliveries (owner_id, week, status, attempts, claimed_at, "
            "sent_at, parts, locale) VALUES (?, ?, 'sent', 1, ?, ?, 3, 'en')",
            (OWNER, week, stamp, stamp),
        )


def weekly_cron(at: datetime) -> str:
    """A crontab line firing once, at `at` (UTC): minute, hour, day, month."""
    return f"{at.minute} {at.hour} {at.day} {at.month} *"


async def sends_to_owner(api: FakeBotAPI, method: str, count: int, seconds: float) -> None:
    def done() -> bool:
        matching = [
            c for c in api.calls
            if c.ok and c.method == method and str(c.params.get("chat_id")) == str(OWNER)
        ]  # fmt: skip
        return len(matching) >= count

    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {method} #{count} to the owner within {seconds:g} s")
        await asyncio.sleep(0.2)


async def quiet(api: FakeBotAPI, seconds: float) -> None:
    """Until no Bot API call other than getUpdates came for `seconds`."""
    while True:
        busy = [c for c in api.calls if c.method != "getUpdates"]
        count = len(busy)
        await asyncio.sleep(seconds)
        if len([c for c in api.calls if c.method != "getUpdates"]) == count:
            return


async def measure(
    args: argparse.Namespace, code: Path, folder: Path, fires: datetime
) -> dict[str, Any]:
    database = f"sqlite+aiosqlite:///{folder / 'demo.db'}"
    async with FakeBotAPI() as api:
        api._last_update_id = 10**9  # the demo's guests used the low update ids
        env = {
            **os.environ, "PYTHONPATH": str(code), "CJM_BOT_TOKEN": "123456:FOOTPRINT",
            "CJM_TELEGRAM_API_URL": api.url, "CJM_DATABASE_URL": database,
            "CJM_OWNER_IDS": str(OWNER), "CJM_REPORT_CRON": weekly_cron(fires),
            "CJM_TIMEZONE": "UTC", "CJM_HTTP_PORT": "0", "CJM_QUIET_HOURS": "off",
        }  # fmt: skip
        log = folder / "bot.log"
        with log.open("w") as log_file:
            bot = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "run", cwd=code, env=env,
                stdout=subprocess.DEVNULL, stderr=log_file,
            )  # fmt: skip
        sampler = WorkerPeak(bot.pid)
        sampling = asyncio.create_task(sampler.run())
        try:
            await api.wait_for("getUpdates", timeout=120)
            await quiet(api, args.settle)
            idle = status(bot.pid, "VmRSS")
            print(f"idle: {idle:.0f} MiB", flush=True)

            started = time.monotonic()
            api.user(OWNER, first_name="Owner").send_text("/report 30d")
            await sends_to_owner(api, "sendDocument", 1, 600)
            report_seconds = time.monotonic() - started
            await asyncio.sleep(args.settle)
            after_report = status(bot.pid, "VmRSS")
            print(f"after /report: {after_report:.0f} MiB ({report_seconds:.1f} s)")

            wait = (fires - datetime.now(UTC)).total_seconds()
            if wait < 0:
                print("warning: the weekly report fired before /report was measured")
            await sends_to_owner(api, "sendDocument", 2, max(wait, 0) + 600)
            await asyncio.sleep(args.settle)
            after_weekly = status(bot.pid, "VmRSS")
            peak = status(bot.pid, "VmHWM")
            print(f"after the weekly report: {after_weekly:.0f} MiB (peak {peak:.0f} MiB)")
        finally:
            sampling.cancel()
            bot.terminate()
            try:
                await asyncio.wait_for(bot.wait(), 30)
            except TimeoutError:
                bot.kill()
            errors = await asyncio.to_thread(log.read_text, errors="replace")
        print(f"report workers: {sampler.seen}, peak {sampler.peak:.0f} MiB each")
    return {
        "code": str(code), "customers": args.customers, "idle_mib": round(idle, 1),
        "after_report_mib": round(after_report, 1), "report_seconds": round(report_seconds, 1),
        "after_weekly_mib": round(after_weekly, 1), "bot_peak_mib": round(peak, 1),
        "workers": sampler.seen, "worker_peak_mib": round(sampler.peak, 1),
        "bot_stderr_tail": errors[-2000:],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=80, help="demo guests (default 80)")
    parser.add_argument("--code", help="run `cjm run` from this checkout (default: this one)")
    parser.add_argument("--settle", type=float, default=5.0, help="quiet seconds (default 5)")
    parser.add_argument(
        "--weekly-after", type=float, default=90.0,
        help="the weekly report fires at a whole minute at least this many seconds after "
        "the bot starts (default 90)",
    )  # fmt: skip
    args = parser.parse_args()
    code = Path(args.code).resolve() if args.code else ROOT
    with tempfile.TemporaryDirectory(prefix="cjm-footprint-") as folder:
        fill_database(Path(folder), args.customers)
        now = datetime.now(UTC)
        fires = (now + timedelta(seconds=args.weekly_after + 60)).replace(second=0, microsecond=0)
        settle_last_years_week(Path(folder), fires)
        result = asyncio.run(measure(args, code, Path(folder), fires))
    path = write_result("footprint", {"machine": machine(), **result})
    print(f"written to {path}")


if __name__ == "__main__":
    main()
