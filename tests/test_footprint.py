"""Footprint (issue 11 item 9): reports are drawn in a short-lived worker process, so the
bot's own process never loads matplotlib, numpy, scipy or jinja2; a worker that fails,
is killed or hangs gives the owner a clear message and the log a line, never a hang."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reports.worker import ReportWorker
from storage.migrate import alembic_config, script_head
from tests.flows import first_wave
from tests.support.harness import OWNER_ID, Harness

WORKER_FAILED = (
    "Sorry, the report could not be drawn: the process that draws it stopped with an "
    "error. The details are in the bot's log. Please try again later."
)


async def answered_last_week(h: Harness) -> None:
    """One guest answers on Wednesday 18 November; then it is Monday 23, noon (the weekly
    report has fired): there is something to draw for both reports."""
    h.clock.now = datetime(2026, 11, 18, 12, tzinfo=UTC)
    alice = h.user(501)
    question = await first_wave(h, alice, "alice")
    await h.click(alice, question, "I've been here before")
    for answer in ("Something on the menu", "5 ⭐", "😍 Delight"):
        await h.click(alice, h.last_to(alice), answer)
    h.clock.now = datetime(2026, 11, 23, 12, tzinfo=UTC)


def to_owner(h: Harness, method: str) -> list[Any]:
    return [call for call in h.api.calls_of(method) if call.params["chat_id"] == OWNER_ID]


def worker_of(harness: Harness) -> ReportWorker:
    worker = harness.app.weekly.build
    assert isinstance(worker, ReportWorker)
    return worker


def test_the_bot_process_never_imports_the_drawing_libraries(sqlite_url: str) -> None:
    """/report and the weekly report deliver their files, and afterwards the bot's process
    (a fresh one, as `cjm run`) has not imported matplotlib, numpy, scipy or jinja2 (nor
    redis, unused without CJM_REDIS_URL, nor alembic, the database being at the head
    revision already), nor built aiogram's types it never met."""
    child = subprocess.run(
        [sys.executable, "-m", "tests.support.footprint_process", sqlite_url],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    shown = json.loads(child.stdout.splitlines()[-1])

    parts = ["sendMessage", "sendPhoto", "sendDocument"]
    assert shown["received"] == ["sendMessage", *parts, *parts]  # "Building…", /report, weekly
    assert shown["weekly_sent"] == [OWNER_ID]
    assert shown["imported"] == []
    # aiogram's ~300 Telegram types are built when first met (bot/aiogram_lazy.py), not
    # all at import: a bot that has served owners and reports has met only a few.
    assert shown["aiogram_types_built"] < 0.25


async def test_a_worker_killed_midway_tells_the_owner_and_the_log(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    kill_self = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    worker_of(harness).command = (sys.executable, "-c", kill_self)  # as the OOM killer would
    await answered_last_week(harness)

    await harness.send(harness.user(OWNER_ID), "/report")
    await harness.app.background.wait()

    assert harness.api.sent_texts(OWNER_ID)[-1] == WORKER_FAILED
    assert to_owner(harness, "sendPhoto") == []
    assert (
        f"/report for {OWNER_ID} was not drawn: the report worker was killed by SIGKILL "
        "(out of memory?)"
    ) in caplog.messages


async def test_a_worker_error_is_logged_with_its_cause_and_the_owner_told_in_russian(
    harness: Harness, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    # The worker's database has none of the bot's tables: it fails, exit code 1.
    worker_of(harness).database_url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    await answered_last_week(harness)

    await harness.send(harness.user(OWNER_ID, language="ru"), "/report 30d")
    await harness.app.background.wait()

    assert harness.api.sent_texts(OWNER_ID)[-1] == (
        "Извините, отчёт не удалось нарисовать: процесс, который его рисует, завершился "
        "с ошибкой. Подробности — в журнале бота. Попробуйте позже."
    )
    [line] = [m for m in caplog.messages if m.startswith(f"/report for {OWNER_ID}")]
    assert line.startswith(
        f"/report for {OWNER_ID} was not drawn: the report worker exited with code 1: "
    )
    assert "no such table" in line


async def test_a_worker_that_hangs_is_stopped_and_the_owner_told(harness: Harness) -> None:
    worker = worker_of(harness)
    worker.command = (sys.executable, "-c", "import time; time.sleep(3600)")
    worker.timeout = 0.5
    await answered_last_week(harness)

    await harness.send(harness.user(OWNER_ID), "/report")
    await harness.app.background.wait()

    assert harness.api.sent_texts(OWNER_ID)[-1] == (
        "Sorry, the report took too long to draw and was stopped. Try a shorter period, "
        "or try again later."
    )


async def test_a_weekly_report_whose_worker_fails_is_retried_later(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    worker_of(harness).command = (sys.executable, "-c", "raise SystemExit('out of disk')")
    await answered_last_week(harness)

    outcome = await harness.app.weekly.deliver()

    assert outcome.retrying == (OWNER_ID,)
    assert to_owner(harness, "sendMessage") == []
    assert (
        f"weekly report for owner {OWNER_ID} was not drawn: the report worker exited with "
        "code 1: out of disk"
    ) in caplog.messages


def test_the_head_read_without_alembic_is_alembics() -> None:
    from alembic.script import ScriptDirectory

    assert script_head() == ScriptDirectory.from_config(alembic_config()).get_current_head()
