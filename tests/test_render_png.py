"""The PNG map, drawn from the demo's report (the cafe with a fine interest stage and a poor
retention stage): a valid PNG of the promised size, in English and Russian, for an empty
period, and rendered off the event loop."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import struct
import threading
from datetime import date

import pytest

from reports.aggregate import Comment, Period
from reports.priority_words import headline
from reports.render_png import (
    HEIGHT,
    WIDTH,
    changes_note,
    map_lane_texts,
    map_texts,
    render_png,
    render_png_async,
)
from reports.report import Report
from reports.words import wave_names
from surveys.loader import load_survey
from tests.support.demo_data import START, demo_report

NO_ANSWERS = Period(date(2020, 1, 1), date(2020, 1, 8))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def reports(demo_url: str, cafe_report: Report) -> dict[str, Report]:
    """The demo's report in English and Russian, and an English one for a week in 2020 when
    nobody answered."""
    return {
        "en": cafe_report,
        "ru": demo_report(demo_url, locale="ru"),
        "empty": demo_report(demo_url, NO_ANSWERS),
    }


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must come first after the signature."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR"
    assert length == 13
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_map_is_a_png_of_the_promised_size(reports: dict[str, Report]) -> None:
    report = reports["en"]
    assert report.answers > 0  # the demo has answers: the map is not empty
    data = render_png(report)
    assert png_size(data) == (WIDTH, HEIGHT) == (1600, 1400)
    assert data.endswith(b"IEND\xaeB`\x82")


def test_the_map_renders_in_russian(reports: dict[str, Report]) -> None:
    report = reports["ru"]
    assert report.locale == "ru"
    assert report.title == "Кафе: путь гостя"
    data = render_png(report)
    assert png_size(data) == (WIDTH, HEIGHT)
    assert data != render_png(reports["en"])


DECIMAL_POINT = re.compile(r"(?<![\d.])\d+\.\d(?![\d.])")  # 4.5, not 15.11.2026


def test_the_russian_map_writes_decimals_with_a_comma(reports: dict[str, Report]) -> None:
    russian, english = map_texts(reports["ru"]), map_texts(reports["en"])
    assert not [text for text in russian if DECIMAL_POINT.search(text)]
    assert any(re.search(r"\d,\d ★", text) for text in russian)
    assert any(re.search(r"\d\.\d ★", text) for text in english)


def test_a_period_without_answers_renders(reports: dict[str, Report]) -> None:
    report = reports["empty"]
    assert report.answers == 0
    assert report.response_rate is None
    assert png_size(render_png(report)) == (WIDTH, HEIGHT)


def test_long_and_odd_comments_render(reports: dict[str, Report]) -> None:
    """A long comment is cut, an unbroken one wrapped, and dollar signs are not mathtext."""
    report = reports["en"]
    odd = (
        "The sign cannot be seen from across the road, and the door is hidden " * 5,
        "x" * 200,
        "paid $5 for $3 coffee, $x^2$ {",
    )
    comments = tuple(Comment(text, START, None, 2, True) for text in odd)
    rows = tuple(dataclasses.replace(row, comments=comments) for row in report.stages)
    changed = dataclasses.replace(report, stages=rows, segment="takeaway")
    assert png_size(render_png(changed)) == (WIDTH, HEIGHT)


def test_the_render_is_the_same_from_several_threads(reports: dict[str, Report]) -> None:
    """No shared pyplot state: renders running at once in threads draw the same map."""
    report = reports["en"]
    expected = render_png(report)
    results: list[bytes] = []
    lock = threading.Lock()

    def render() -> None:
        data = render_png(report)
        with lock:
            results.append(data)

    threads = [threading.Thread(target=render) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 3


async def test_the_async_render_does_not_block_the_event_loop(
    reports: dict[str, Report],
) -> None:
    report = reports["en"]
    ticks_during_render: list[int] = []
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0)

    async def render() -> bytes:
        try:
            return await render_png_async(report)
        finally:
            ticks_during_render.append(ticks)
            done.set()

    ticking = asyncio.create_task(ticker())
    data = await render()
    await ticking
    assert png_size(data) == (WIDTH, HEIGHT)
    assert data == render_png(report)
    # The loop kept running other tasks while the render ran in its worker thread.
    assert ticks_during_render[0] > 3


SECOND_HALF = Period(date(2026, 10, 24), date(2026, 11, 15))  # compared with the first half
FOOTER_EN = (
    "Response by wave: After the visit 92% · A few days later 85% · Three weeks later 81%"
    "   ·   made 15.11.2026 00:00 UTC"
)
FOOTER_RU = (
    "Отклик по волнам: После визита 92\xa0% · Через несколько дней 85\xa0% · "
    "Через три недели 81\xa0%"
    "   ·   сформирован 15.11.2026 00:00 UTC"
)


def line(texts: list[str], start: str) -> str:
    """The one text on the map that starts so."""
    [found] = [text for text in texts if text.startswith(start)]
    return found


def test_the_map_names_waves_by_title_and_dates_as_telegram_does(
    reports: dict[str, Report],
) -> None:
    survey = load_survey("cafe")
    english = map_texts(reports["en"], wave_names(survey, "en"))
    russian = map_texts(reports["ru"], wave_names(survey, "ru"))

    assert english[0] == "Cafe: the guest journey — 01.10.2026–14.11.2026"
    assert russian[0] == "Кафе: путь гостя — 01.10.2026–14.11.2026"
    assert line(english, "Response by wave") == FOOTER_EN  # nothing before 1 October: no ▲▼
    assert line(russian, "Отклик по волнам") == FOOTER_RU
    for wave in ("after_purchase", "first_use", "loyalty"):
        assert not any(wave in text for text in english + russian if "%" in text), wave


def test_the_change_legend_only_when_the_map_shows_changes(demo_url: str) -> None:
    texts = map_texts(demo_report(demo_url, SECOND_HALF))
    assert any(text.startswith(("▲", "▼")) for text in texts if not text.startswith("▲▼"))
    assert line(texts, "▲▼") == "▲▼ change vs the previous 22 days   ·   made 15.11.2026 00:00 UTC"


def test_quotes_use_the_languages_marks(reports: dict[str, Report]) -> None:
    russian, english = map_texts(reports["ru"]), map_texts(reports["en"])
    assert any(text.startswith("«") for text in russian)
    assert not any("“" in text or "”" in text for text in russian)
    assert any(text.startswith("“") for text in english)
    assert not any("«" in text for text in english)


def test_the_map_says_what_to_fix_first(reports: dict[str, Report]) -> None:
    assert not reports["empty"].judged  # nobody answered: no ranking on the map
    for locale in ("en", "ru"):
        report = reports[locale]
        names = {row.stage.id: row.stage.name for row in report.stages}
        said = headline(report.priorities, names, locale)
        assert said in map_texts(report) or any(
            text.endswith("…") and said.startswith(text[:-1]) for text in map_texts(report)
        )
    assert not any("r=" in text or "r =" in text for text in map_texts(reports["en"]))


MORE = re.compile(r"^(?:\+(\d+) more|\+ ещё (\d+))$")


def test_touchpoints_are_shown_whole_or_counted_among_the_more(
    reports: dict[str, Report],
) -> None:
    """A long name wraps; where the lane is full, "+n more" counts every touchpoint not
    shown whole (never "Interior and" cut short before "+1 more")."""
    counted = 0
    for locale in ("en", "ru"):
        report = reports[locale]
        lines = [text for text in map_lane_texts(report)["touchpoints"] if text != "●"]
        shown = " ".join(lines)
        names = [tp.name for row in report.stages for tp in row.touchpoints]
        more = [int(m[1] or m[2]) for text in lines if (m := MORE.match(text))]
        assert sum(name in shown for name in names) + sum(more) == len(names)
        counted += len(more)
    # The English demo has stages with more touchpoints than room (the Russian map, whose
    # other lanes may be shorter, can fit them all).
    assert counted


def test_a_share_stays_with_its_number(reports: dict[str, Report]) -> None:
    """Wrapping keeps "38 %" (a no-break space) and "20 · 54 %" on one line."""
    for locale in ("en", "ru"):
        texts = map_texts(reports[locale])
        assert not [text for text in texts if text.startswith("%") or text.endswith("·")]
    assert map_lane_texts(reports["ru"])["nps"][:2] == ["NPS", "интервал 90 %"]


@pytest.mark.parametrize(
    ("days", "english", "russian"),
    [
        (1, "▲▼ change vs the previous day", "▲▼ изменение к предыдущему дню"),
        (7, "▲▼ change vs the previous 7 days", "▲▼ изменение к предыдущим 7 дням"),
        (21, "▲▼ change vs the previous 21 days", "▲▼ изменение к предыдущим 21 дню"),
    ],
)
def test_the_change_legend_counts_days_in_each_language(
    days: int, english: str, russian: str
) -> None:
    assert changes_note(days, "en") == english
    assert changes_note(days, "ru") == russian
