"""Owners ask for the map in Telegram: `/report [7d|30d|FROM..TO] [segment]`."""

from __future__ import annotations

from datetime import date

import pytest

from bot.routers.owner import parse_period
from reports.aggregate import Period
from tests.flows import first_wave
from tests.support.harness import OWNER_ID, Harness


async def test_owner_gets_summary_map_and_html(harness: Harness) -> None:
    alice = harness.user(501)
    question = await first_wave(harness, alice, "alice")
    await harness.click(alice, question, "I've been here before")
    for answer in ("Something on the menu", "5 ⭐", "😍 Delight"):
        await harness.click(alice, harness.last_to(alice), answer)

    await harness.send(harness.user(OWNER_ID), "/report 7d")
    await harness.app.background.wait()  # the report is built and sent by a task

    summary = harness.api.sent_texts(OWNER_ID)[-1]  # the photo has no caption
    assert summary.startswith("Cafe: the guest journey\n")
    assert "answers" in summary
    photo = harness.api.last("sendPhoto")
    assert photo.params["chat_id"] == OWNER_ID
    assert photo.files["photo"][1].startswith(b"\x89PNG")
    document = harness.api.last("sendDocument")
    filename, html = document.files["document"]
    assert filename.endswith(".html") and b"<html" in html and b"Purchase" in html


async def test_report_is_for_owners_only_and_explains_its_arguments(harness: Harness) -> None:
    await harness.send(harness.staff, "/report 7d")
    assert harness.api.sent_texts(100)[-1].startswith("Sorry, this command is for the staff")
    assert harness.api.calls_of("sendPhoto") == []

    await harness.send(harness.user(OWNER_ID), "/report yesterday")
    assert harness.api.sent_texts(OWNER_ID)[-1].startswith("Usage: /report")


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        (None, Period(date(2026, 11, 17), date(2026, 11, 24))),
        ("30d", Period(date(2026, 10, 25), date(2026, 11, 24))),
        ("2026-11-01..2026-11-15", Period(date(2026, 11, 1), date(2026, 11, 16))),
        ("2026-11-15..2026-11-01", None),
        ("2026-02-30..2026-03-01", None),
        ("0d", None),
        ("week", None),
    ],
)
def test_period_words(word: str | None, expected: Period | None) -> None:
    assert parse_period(word, date(2026, 11, 23)) == expected
