"""The bot's report paths, alone in a child process, to see what they leave imported:

    python -m tests.support.footprint_process SQLITE_URL

Starts the fake Bot API and the bot as `cjm run` builds it, has the owner ask for
`/report 7d`, delivers the weekly report, and prints one JSON line: the Bot API methods
the owner received, which heavy libraries this process has imported and the share of
aiogram's Telegram types it has built.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime

from tests.flows import first_wave
from tests.support.clock import FakeClock
from tests.support.fake_bot_api import FakeBotAPI
from tests.support.harness import OWNER_ID, Harness

# redis: only with CJM_REDIS_URL (not set here); alembic: only when there is something to migrate
HEAVY = ("matplotlib", "numpy", "scipy", "jinja2", "openpyxl", "PIL", "redis", "alembic")


def built_share() -> float:
    """The share of aiogram's Telegram types whose validators have been built."""
    import aiogram.types  # here: bot/__init__.py must come first (bot/aiogram_lazy.py)

    models = [
        getattr(aiogram.types, name) for name in aiogram.types.__all__
        if hasattr(getattr(aiogram.types, name), "__pydantic_complete__")
    ]  # fmt: skip
    return sum(model.__pydantic_complete__ for model in models) / len(models)


async def main(database_url: str) -> None:
    clock = FakeClock(datetime(2026, 11, 18, 12, tzinfo=UTC))  # in the week reported below
    async with FakeBotAPI() as api, Harness(api, database_url, clock) as harness:
        alice = harness.user(501)
        question = await first_wave(harness, alice, "alice")
        await harness.click(alice, question, "I've been here before")
        for answer in ("Something on the menu", "5 ⭐", "😍 Delight"):
            await harness.click(alice, harness.last_to(alice), answer)
        clock.now = datetime(2026, 11, 23, 12, tzinfo=UTC)  # the weekly report has fired

        await harness.send(harness.user(OWNER_ID), "/report 7d")
        await harness.app.background.wait()
        outcome = await harness.app.weekly.deliver()
        sends = [c for c in api.calls if c.ok and c.method.startswith("send")]
        print(
            json.dumps({
                "received": [c.method for c in sends if str(c.params["chat_id"]) == str(OWNER_ID)],
                "weekly_sent": list(outcome.sent),
                "imported": [name for name in HEAVY if name in sys.modules],
                "aiogram_types_built": built_share(),
            })
        )  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
