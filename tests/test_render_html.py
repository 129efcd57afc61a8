"""The self-contained HTML report: on the demo cafe (every stage, flag sentence, priority
and comment shown; no external request possible) and on hand-made reports (customer text
escaped, empty reports, the PNG inline, the change arrows)."""

from __future__ import annotations

import base64
import dataclasses
import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser

import pytest

from reports.aggregate import Comment, Period, change
from reports.figures import Figures
from reports.priorities import Priorities
from reports.priority_words import headline
from reports.priority_words import sentence as priority_sentence
from reports.render_html import of_waves, render_html
from reports.report import Cell, Report, StageRow
from surveys.loader import load_survey
from surveys.model import Thresholds
from tests.support.demo_data import demo_report
from tests.support.flags import verdict

VOID = {"meta", "br", "img", "hr", "input", "link", "col", "area", "base", "source", "wbr"}
SVG_EMPTY = {"line", "polyline", "circle", "path", "rect"}  # written self-closing
URL_ATTRIBUTES = {"src", "href", "action", "formaction", "poster", "xlink:href", "srcset"}


class Page(HTMLParser):
    """Tags, attributes and text of a page, and whether its elements nest properly."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.styles: list[str] = []
        self.open: list[str] = []
        self.errors: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
            return
        self.open.pop()

    def handle_data(self, data: str) -> None:
        if self.open and self.open[-1] == "style":
            self.styles.append(data)
        elif data.strip():
            # ASCII whitespace only: the no-break space in "16 %" is what the reader sees
            self.texts.append(re.sub(r"[ \t\n\r\f\v]+", " ", data).strip())

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    def names(self) -> list[str]:
        return [tag for tag, _ in self.tags]


_REMOTE = re.compile(r"https?:|url\(|@import|//", re.IGNORECASE)


def check_page(html: str) -> Page:
    page = Page(html)
    assert html.startswith("<!DOCTYPE html>")
    assert page.errors == []
    assert page.open == []
    names = page.names()
    assert "script" not in names
    assert "link" not in names
    assert "iframe" not in names
    assert names.count("style") == 1
    assert any(t == "meta" and a.get("name") == "viewport" for t, a in page.tags)
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            if name in URL_ATTRIBUTES:
                assert value is not None
                assert value.startswith(("#", "data:")), (tag, name, value)
        for name in ("style", "srcset", "background", "ping", "data"):
            assert not _REMOTE.search(attrs.get(name) or ""), (tag, name)
    # Nor does the style sheet (customer text may mention a URL: it is only text).
    assert not _REMOTE.search("".join(page.styles))
    return page


# --- the demo cafe ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report(cafe_report: Report) -> Report:
    return cafe_report


@pytest.fixture(scope="module")
def page(report: Report) -> Page:
    return check_page(render_html(report))


def test_the_demo_page_names_no_address_at_all(report: Report) -> None:
    html = render_html(report)
    assert "http" not in html
    assert "//" not in html


def test_the_demo_page_shows_every_stage_and_touchpoint(report: Report, page: Page) -> None:
    survey = load_survey("cafe")
    for stage in survey.stages:
        assert survey.text(stage.name, "en") in page.texts
        for touchpoint in stage.touchpoints:
            assert survey.text(touchpoint.name, "en") in page.texts
    assert "Cafe: the guest journey" in page.texts
    assert f"Answers{report.answers}" in page.text.replace("\n", "")


def test_every_flag_sentence_is_on_the_page(report: Report, page: Page) -> None:
    sentences = [row.stage.flag.sentence for row in report.stages]
    sentences += [tp.flag.sentence for row in report.stages for tp in row.touchpoints]
    assert any("<" in s for s in sentences)  # the retention problem: "… < 3.5, n=…"
    for sentence in sentences:
        assert " ".join(sentence.split()) in page.texts, sentence


def test_the_map_colours_cells_by_flag(report: Report, page: Page) -> None:
    retention = next(row for row in report.stages if row.stage.id == "retention")
    assert retention.stage.flag.level == "problem"
    classes = [a.get("class") for t, a in page.tags if t == "td"]
    assert "problem" in classes
    assert "ok" in classes  # the interest stage
    sections = [a for t, a in page.tags if t == "section"]
    assert {"id": "stage-retention", "class": "stage problem"} in sections
    assert len(sections) == len(report.stages)


def test_priorities_carry_stage_names_and_intervals(report: Report, page: Page) -> None:
    names = {row.stage.id: row.stage.name for row in report.stages}
    assert report.priorities.stages
    assert headline(report.priorities, names, "en") in page.texts
    for priority in report.priorities.stages:
        said = priority_sentence(priority, names[priority.stage], "en")
        assert said in page.texts
        assert said.startswith(f"{names[priority.stage]}: ")
        assert "of what moves NPS (90%: " in said


def test_comments_are_quoted_with_dates(report: Report, page: Page) -> None:
    comments = [c for row in report.stages for c in row.comments]
    assert comments
    quotes = page.names().count("blockquote")
    assert quotes == sum(min(3, len(row.comments)) for row in report.stages)
    for comment in comments:
        assert " ".join(comment.text.split()) in page.text
        assert f"{comment.answered_at:%d.%m.%Y}" in page.text
    assert any(c.low for c in comments)
    assert "low" in [a.get("class") for t, a in page.tags if t == "blockquote"]


def test_the_mood_curve_is_inline_svg(page: Page) -> None:
    names = page.names()
    assert "svg" in names
    assert "polyline" in names or "circle" in names


def test_the_png_map_is_inline(report: Report) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    page = check_page(render_html(report, map_png=png))
    images = [a for t, a in page.tags if t == "img"]
    assert len(images) == 1
    src = images[0]["src"]
    assert src is not None and src.startswith("data:image/png;base64,")
    assert base64.b64decode(src.removeprefix("data:image/png;base64,")) == png
    assert "img" not in Page(render_html(report)).names()


# --- hand-made reports --------------------------------------------------------------------

NASTY = '<script>alert("x")</script> & <img src=https://evil.example/x.png> "quoted"'
THRESHOLDS = Thresholds()
PERIOD = Period(date(2026, 11, 9), date(2026, 11, 16))


def cell(ident: str, name: str, now: Figures, before: Figures) -> Cell:
    return Cell(ident, name, now, before, change(now, before), *verdict(now))


def small_report(comments: tuple[Comment, ...] = (), segment: str | None = None) -> Report:
    good = Figures(answers=20, ratings=20, rating_sum=90, rating_squares=410, satisfied=18)
    worse = Figures(answers=20, ratings=20, rating_sum=60, rating_squares=200, satisfied=6)
    quiet = Figures(answers=2, ratings=2, rating_sum=8, rating_squares=32, satisfied=2)
    stage = cell("visit", "Visit <b>&</b> pay", worse, good)
    touchpoint = cell("till", "Till & queue", quiet, Figures())
    other = cell("return", "Return", good, worse)
    return Report(
        "tiny", "Tiny <café>", "en", PERIOD, segment, datetime(2026, 11, 16, 9, tzinfo=UTC),
        (StageRow(stage, (touchpoint,), comments), StageRow(other, (), ())),
        {"w1": (12, 20)}, Priorities((), 4, 20),
    )  # fmt: skip


def test_customer_text_is_escaped() -> None:
    comments = (
        Comment(NASTY, datetime(2026, 11, 12, 18, 5, tzinfo=UTC), "till", 2, True),
        Comment("=1+1\nsecond line", datetime(2026, 11, 10, tzinfo=UTC), None, None, False),
    )
    html = render_html(small_report(comments, segment="<vip>"))
    page = check_page(html)
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html
    assert " ".join(NASTY.split()) in page.text
    assert "Visit <b>&</b> pay" in page.texts
    assert "Tiny <café>" in page.texts
    assert "<vip>" in page.texts
    assert "12.11.2026 · Till & queue · rated 2/5 ·" in page.text
    assert "low" in page.texts


def test_changes_show_arrows_and_numbers() -> None:
    page = check_page(render_html(small_report()))
    text = page.text
    # Visit fell from 4.5 to 3.0 stars and from 90 % to 30 % CSAT; Return rose as much.
    assert "▼ 1.5" in text
    assert "(was 4.5)" in text
    assert "▼ 60 pts" in text
    assert "(was 90%)" in text
    assert "▲ 1.5" in text
    assert "(was 3.0)" in text
    assert "▲ 60 pts" in text
    assert "(was 30%)" in text
    assert "60%" in page.texts  # the response rate, 12 of 20 waves
    assert "(12 of 20 waves)" in page.texts
    assert "Response rate by wave: Wave 1 60% (12/20)" in page.texts  # never the id "w1"
    assert (
        "What moves NPS cannot be told apart yet: 4 customers with an NPS answer (20 needed)."
        in page.texts
    )
    assert any(t.startswith("▲ and ▼ compare with last week") for t in page.texts)


def test_waves_are_named_by_their_titles_and_dates_read_as_in_telegram() -> None:
    page = check_page(render_html(small_report(), waves={"w0": "Unsent", "w1": "After the visit"}))
    assert "Response rate by wave: After the visit 60% (12/20)" in page.texts
    assert "09.11.2026–15.11.2026 (7 days)" in page.texts
    assert "16.11.2026 09:00 UTC" in page.texts
    assert "w1" not in page.text


def test_no_arrows_explained_when_nothing_is_compared(page: Page) -> None:
    assert not any("▲" in text or "▼" in text for text in page.texts)


def test_an_empty_report_renders() -> None:
    empty = Report(
        "tiny", "Nothing yet", "en", PERIOD, None, datetime(2026, 11, 16, tzinfo=UTC),
        (), {}, (),
    )  # fmt: skip
    page = check_page(render_html(empty))
    assert "Nothing yet" in page.texts
    assert "No answers in this period." in page.texts
    assert "table" not in page.names()
    assert "svg" not in page.names()


def test_a_report_without_answers_renders() -> None:
    nothing = cell("visit", "Visit", Figures(), Figures())
    report = Report(
        "tiny", "Quiet week", "en", PERIOD, "walk-in", datetime(2026, 11, 16, tzinfo=UTC),
        (StageRow(nothing, (nothing,), ()),), {}, (),
    )  # fmt: skip
    page = check_page(render_html(report))
    assert "No answers in this period for this segment." in page.texts
    assert "Not enough data" in page.texts
    assert "svg" not in page.names()
    assert nothing.flag.sentence in page.texts


# --- in Russian ---------------------------------------------------------------------------

ENGLISH_WORDS = re.compile(
    r"\b(the|of|and|with|answers?|stage|touchpoint|rating|mood|period|flag|not|was|pts)\b",
    re.IGNORECASE,
)


def test_a_russian_report_reads_in_russian(demo_url: str) -> None:
    report = demo_report(demo_url, locale="ru")
    page = check_page(render_html(report))
    customer_text = {" ".join(c.text.split()) for row in report.stages for c in row.comments}
    # The customers' own words in the voice lanes: quotes, and the words no theme covers.
    said = [
        *(
            q
            for v in report.voices.stages.values()
            for f in (*v.pain, *v.praise)
            for q in f.quotes
        ),
        *(q for v in report.voices.stages.values() for q in v.pain_quotes + v.praise_quotes),
        *(q for v in report.voices.stages.values() for q in v.suggestion_quotes),
        *(t.text for v in report.voices.stages.values() for t in v.uncovered),
    ]
    english = [
        t for t in page.texts
        if t not in customer_text and ENGLISH_WORDS.search(t)
        and not any(q in t for q in said)
    ]  # fmt: skip
    assert english == []
    assert "Отчёт по карте пути клиента" in page.texts
    assert "Как читать отчёт" in page.texts
    assert "01.10.2026–14.11.2026 (45 дней)" in page.texts
    retention = next(row for row in report.stages if row.stage.id == "retention")
    assert retention.stage.flag.sentence in page.texts
    assert "Проблема" in page.texts


def test_russian_changes_and_plural_days() -> None:
    english = small_report()
    russian = dataclasses.replace(
        english, locale="ru", period=Period(date(2026, 11, 1), date(2026, 11, 22))
    )
    text = check_page(render_html(russian)).text
    assert "▼ 60 п.п." in text
    assert re.search(r"\(было 90\s%\)", text)  # the page text may fold the no-break space
    assert "(21 день)" in text
    assert "(12 из 20 волн)" in text


def test_the_waves_answered_are_counted_in_each_language() -> None:
    assert of_waves(4, 6, "en") == "4 of 6 waves"
    assert of_waves(1, 1, "en") == "1 of 1 wave"
    assert of_waves(4, 6, "ru") == "4 из 6 волн"
    assert of_waves(1, 21, "ru") == "1 из 21 волны"
    assert of_waves(1500, 2000, "ru") == "1\xa0500 из 2\xa0000 волн"
