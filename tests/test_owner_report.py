"""Owners ask for the map in Telegram: `/report [7d|30d|FROM..TO] [segment]`."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from bot.routers.owner import BadRequest, ReportRequest, parse_request
from reports.aggregate import Period
from tests.flows import connect, first_wave, register_order
from tests.support.fake_bot_api import TgUser
from tests.support.harness import OWNER_ID, Harness


async def first_wave_in(h: Harness, user: TgUser, ref: str, segment: str) -> dict[str, Any]:
    await connect(h, user, ref, segment)
    h.clock.advance(hours=2, minutes=1)
    await h.drain()
    return h.last_to(user)


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
    said = harness.api.sent_texts
    assert said(100)[-1] == "Sorry, this command is for the owners of Zerno Coffee."
    await harness.send(harness.user(100, "ru"), "/report")
    assert said(100)[-1] == "Извините, эта команда только для владельцев."
    await harness.send(harness.user(778, "ru"), "/order +79990001122")
    assert said(778)[-1] == "Извините, эта команда только для сотрудников."
    await harness.send(harness.user(777), "/order +79990001122")
    assert said(777)[-1] == "Sorry, this command is for the staff of Zerno Coffee."
    assert harness.api.calls_of("sendPhoto") == []

    await harness.send(harness.user(OWNER_ID), "/report 7d downtown extra")
    assert harness.api.sent_texts(OWNER_ID)[-1].startswith("Usage: /report")


async def test_help_tells_an_owner_about_report(harness: Harness) -> None:
    await harness.send(harness.user(OWNER_ID, "ru"), "/help")
    assert harness.api.sent_texts(OWNER_ID)[-1].endswith(
        "\n\nДля сотрудников: /order <код клиента> [сегмент] регистрирует заказ и даёт ссылку "
        "или QR-код для клиента.\nДля владельцев: /report [7d|30d|ГГГГ-ММ-ДД..ГГГГ-ММ-ДД] "
        "[сегмент] — сводка, карта (PNG) и HTML-отчёт за период (по умолчанию за последние "
        "7 дней); еженедельный отчёт приходит сам."
    )
    await harness.send(harness.staff, "/help")
    assert "/report" not in harness.api.sent_texts(100)[-1]


async def test_report_for_a_segment_without_a_period(harness: Harness) -> None:
    alice = harness.user(501)
    question = await first_wave_in(harness, alice, "alice", "downtown")
    await harness.click(alice, question, "I've been here before")
    await register_order(harness, "bob", "mall")

    await harness.send(harness.user(OWNER_ID), "/report downtown")
    await harness.app.background.wait()
    texts = harness.api.sent_texts(OWNER_ID)
    assert texts[-2] == (
        "Building your report… the summary, the map (PNG) and the HTML report follow in a moment."
    )
    assert texts[-1].startswith("Cafe: the guest journey\n")
    assert "downtown" in texts[-1]

    await harness.send(harness.user(OWNER_ID), "/report 30d uptown")
    assert harness.api.sent_texts(OWNER_ID)[-1] == (
        "No orders in the segment “uptown”. Segments: downtown, mall."
    )


async def test_a_period_without_answers_is_said_not_drawn(harness: Harness) -> None:
    await harness.send(harness.user(OWNER_ID), "/report")
    assert harness.api.sent_texts(OWNER_ID)[-1] == (
        "No answers for 17.11.2026–23.11.2026 — nothing to draw yet. A longer period: /report 30d"
    )
    await register_order(harness, "bob", "mall")
    await harness.send(harness.user(OWNER_ID, "ru"), "/report mall 2026-11-20..2026-11-20")
    assert harness.api.sent_texts(OWNER_ID)[-1] == (
        "В сегменте «mall» за 20.11.2026 ответов нет — рисовать пока нечего. "
        "За срок подольше: /report 30d mall"
    )
    await harness.app.background.wait()
    files = [c for c in harness.api.calls if c.method in ("sendPhoto", "sendDocument")]
    assert [c for c in files if str(c.params["chat_id"]) == str(OWNER_ID)] == []


async def test_report_without_segments_yet(harness: Harness) -> None:
    await harness.send(harness.user(OWNER_ID, "ru"), "/report yesterday")
    assert harness.api.sent_texts(OWNER_ID)[-1] == (
        "Ни у одного заказа пока нет сегмента, поэтому отчёта по «yesterday» нет."
    )


@pytest.mark.parametrize(
    ("words", "language", "expected"),
    [
        ("400d", "en", "A report covers 1 to 366 days, not 400d.\nExample: /report 30d"),
        ("0d", "ru", "Отчёт строится за срок от 1 до 366 дней, а не 0d.\nПример: /report 30d"),
        (
            "2026-11-15..2026-11-01",
            "en",
            "The period starts after it ends: 2026-11-15..2026-11-01. Put the earlier date first.",
        ),
        (
            "2026-02-30..2026-03-01",
            "en",
            "There is no such date: 2026-02-30..2026-03-01. Dates are written as 2026-11-30.",
        ),
    ],
)
async def test_report_says_what_is_wrong_with_the_period(
    harness: Harness, words: str, language: str, expected: str
) -> None:
    await harness.send(harness.user(OWNER_ID, language), f"/report {words}")
    assert harness.api.sent_texts(OWNER_ID)[-1] == expected


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ([], ReportRequest(Period(date(2026, 11, 17), date(2026, 11, 24)), None)),
        (["30d"], ReportRequest(Period(date(2026, 10, 25), date(2026, 11, 24)), None)),
        (
            ["2026-11-01..2026-11-15"],
            ReportRequest(Period(date(2026, 11, 1), date(2026, 11, 16)), None),
        ),
        (["downtown"], ReportRequest(Period(date(2026, 11, 17), date(2026, 11, 24)), "downtown")),
        (
            ["downtown", "30d"],
            ReportRequest(Period(date(2026, 10, 25), date(2026, 11, 24)), "downtown"),
        ),
        (["366d"], ReportRequest(Period(date(2025, 11, 23), date(2026, 11, 24)), None)),
    ],
)
def test_period_words(words: list[str], expected: ReportRequest) -> None:
    assert parse_request(words, date(2026, 11, 23)) == expected


@pytest.mark.parametrize(
    ("words", "key"),
    [
        (["2026-11-15..2026-11-01"], "report_reversed"),
        (["2026-02-30..2026-03-01"], "report_bad_date"),
        (["2025-01-01..2026-11-01"], "report_days"),
        (["0d"], "report_days"),
        (["367d"], "report_days"),
        (["2026-11"], "report_usage"),
        (["a", "b"], "report_usage"),
        (["7d", "30d"], "report_usage"),
    ],
)
def test_wrong_period_words(words: list[str], key: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_request(words, date(2026, 11, 23))
    assert caught.value.key == key
