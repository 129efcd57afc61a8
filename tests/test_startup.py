"""`cjm run` start-up (README "Settings"): a wrong token stops it with one line and no
database; Telegram unreachable is retried with a growing pause, each attempt said once."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.app import make_bot
from bot.cli import main
from bot.logs import OURS, JsonFormatter
from bot.settings import Settings
from bot.startup import bot_user
from tests.support.fake_bot_api import FakeBotAPI

ROOT = Path(__file__).resolve().parent.parent


async def cjm_run(
    api: FakeBotAPI, database: Path, token: str, **settings: str
) -> asyncio.subprocess.Process:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CJM_")}
    env.update(
        CJM_BOT_TOKEN=token, CJM_TELEGRAM_API_URL=api.url, CJM_HTTP_PORT="0",
        CJM_DATABASE_URL=f"sqlite+aiosqlite:///{database}",
    )  # fmt: skip
    env.update({f"CJM_{name.upper()}": value for name, value in settings.items()})
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def finished(process: asyncio.subprocess.Process) -> tuple[int, str]:
    async with asyncio.timeout(60):
        _out, err = await process.communicate()
    return process.returncode or 0, err.decode()


def test_a_malformed_token_stops_run_with_one_line_and_no_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CJM_BOT_TOKEN", "notatoken")

    assert main(["run"]) == 2

    assert capsys.readouterr() == (
        "",
        "CJM_BOT_TOKEN: not a bot token (it looks like 123456789:AAH…; get one from @BotFather)\n",
    )
    assert not (tmp_path / "cjm.db").exists()


async def test_a_refused_token_stops_run_with_one_line_and_no_database(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    api.fail_next("getMe", 401, "Unauthorized")
    database = tmp_path / "cjm.db"

    code, err = await finished(await cjm_run(api, database, "123456:REVOKED"))

    # No traceback, no "Unclosed client session", no INFO lines of alembic.
    assert (code, err) == (
        2,
        "CJM_BOT_TOKEN: Telegram refused this token (revoked or mistyped? check it with "
        "@BotFather)\n",
    )
    assert not await asyncio.to_thread(database.exists)


async def test_run_waits_for_telegram_and_logs_json_lines_of_its_own(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    api.drop_next("getMe")
    process = await cjm_run(api, tmp_path / "cjm.db", "123456:TEST", log_format="json")
    try:
        await api.wait_for("getUpdates", timeout=60)  # reached on the second try
    finally:
        process.send_signal(signal.SIGTERM)
    code, err = await finished(process)

    assert code == 0
    lines = [json.loads(line) for line in err.splitlines()]  # one JSON object per line
    assert lines[0] == {
        "time": lines[0]["time"], "level": "WARNING", "logger": "bot.startup",
        "message": f"Telegram is unreachable at {api.url} (Server disconnected); "
        "trying again in 1 s",
    }  # fmt: skip
    # Ours at INFO, the libraries' only from WARNING (no "Added job", no "Start polling").
    assert {
        (line["level"], line["logger"])
        for line in lines
        if not line["logger"].startswith(OURS) or line["level"] != "INFO"
    } <= {("WARNING", "bot.startup"), ("WARNING", "aiogram.dispatcher")}
    assert next(line["message"] for line in lines if line["logger"] == "bot.poll_lease") == (
        "Polling Telegram as @cjm_test_bot (this process holds the poller lease)"
    )
    assert not [line for line in lines if "exception" in line]
    assert [call.method for call in api.calls[:2]] == ["getMe", "getMe"]


async def test_a_port_in_use_is_one_line(api: FakeBotAPI, tmp_path: Path) -> None:
    busy = api.url.rsplit(":", 1)[1]  # the fake Telegram listens there
    process = await cjm_run(api, tmp_path / "cjm.db", "123456:TEST", http_port=busy)

    code, err = await finished(process)

    assert code == 2
    assert err.splitlines()[-1] == (
        f"CJM_HTTP_PORT: cannot listen on 127.0.0.1:{busy}: Address already in use"
    )
    assert "Traceback" not in err


async def test_the_pause_between_tries_doubles_up_to_a_minute(
    api: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    api.drop_next("getMe", times=8)
    settings = Settings.explicit(bot_token="123456:TEST", telegram_api_url=api.url)
    bot = make_bot(settings)
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    try:
        with caplog.at_level(logging.WARNING, logger="bot.startup"):
            user = await bot_user(bot, settings, retry=True, sleep=sleep)
    finally:
        await bot.session.close()

    assert user.username == "cjm_test_bot"
    assert pauses == [1, 2, 4, 8, 16, 32, 60, 60]
    assert caplog.messages[0] == (
        f"Telegram is unreachable at {api.url} (Server disconnected); trying again in 1 s"
    )


def test_a_json_log_line_carries_its_exception_on_the_same_line() -> None:
    try:
        int("bad row")
    except ValueError:
        record = logging.LogRecord(
            "surveys.dispatcher", logging.ERROR, __file__, 1, "wave %s failed", (7,),
            sys.exc_info(),
        )  # fmt: skip

    line = JsonFormatter().format(record)

    assert "\n" not in line
    entry = json.loads(line)
    assert {key: entry[key] for key in ("level", "logger", "message")} == {
        "level": "ERROR", "logger": "surveys.dispatcher", "message": "wave 7 failed",
    }  # fmt: skip
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert entry["exception"].endswith(
        "ValueError: invalid literal for int() with base 10: 'bad row'"
    )
