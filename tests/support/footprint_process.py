"""The bot's report paths, alone in a child process, to see what they leave imported:

    python -m tests.support.footprint_process SQLITE_URL

Starts the fake Bot API and the bot as `cjm run` builds it, has the owner ask for
`/report 7d`, delivers the weekly report, and prints one JSON line: the Bot API methods
the owner received and which heavy libraries this process has imported.
"""

from __future__ import annotations

import asyncio
import json
import sys

from tests.support.clock import FakeClock
from tests.support.fake_bot_api import FakeBotAPI
from tests.support.harness import OWNER_ID, Harness

HEAVY = ("matplotlib", "numpy", "scipy", "jinja2", "openpyxl", "PIL")


async def main(database_url: str) -> None:
    async with FakeBotAPI() as api, Harness(api, database_url, FakeClock()) as harness:
        await harness.send(harness.user(OWNER_ID), "/report 7d")
        await harness.app.background.wait()
        outcome = await harness.app.weekly.deliver()
        sends = [c for c in api.calls if c.ok and c.method.startswith("send")]
        print(
            json.dumps({
                "received": [c.method for c in sends if str(c.params["chat_id"]) == str(OWNER_ID)],
                "weekly_sent": list(outcome.sent),
                "imported": [name for name in HEAVY if name in sys.modules],
            })
        )  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
