"""The HTML report in a real browser (SPEC §4 "Outputs"): Debian's headless Chromium, driven
by Playwright, opens the demo's report in English and Russian at 1280 and 390 px wide,
light and dark. The page never scrolls sideways, every stage's name and flag can be brought
into view and read, the curve's words stay legible, nothing is logged as an error and
nothing is fetched but the file itself.

Without Chromium (`apt-get install chromium`; `.ci/run` installs it) these tests skip and
say why — except under CI, where a missing browser fails them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reports.render_html import page_texts, render_html
from reports.render_png import render_png
from reports.report import Report
from reports.words import language
from tests.support.demo_data import demo_report

CHROMIUM = os.environ.get("CJM_TEST_CHROMIUM", "/usr/bin/chromium")
WIDTHS = {1280: 900, 390: 844}  # viewport width: height (a desktop, an iPhone 12-15)


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(pages: dict[str, Path]) -> Iterator[Any]:
    """Started after the pages are written: Playwright's sync API keeps an event loop
    running in this thread, where the reports' asyncio.run could no longer run."""
    if shutil.which(CHROMIUM) is None:
        _missing(f"the browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the browser tests need Playwright (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def reports(demo_url: str, cafe_report: Report) -> dict[str, Report]:
    return {"en": cafe_report, "ru": demo_report(demo_url, locale="ru")}


@pytest.fixture(scope="module")
def pages(reports: dict[str, Report], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The report files as an owner gets them: with the PNG map inside."""
    folder = tmp_path_factory.mktemp("html")
    files = {}
    for lang, report in reports.items():
        files[lang] = folder / f"report-{lang}.html"
        files[lang].write_text(render_html(report, render_png(report)), encoding="utf-8")
    return files


@dataclass
class Seen:
    """What the page did while it was open."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


# Brings an element into view as a reader would (scrolling its box, not the page), then
# says where it is and whether it is what shows at its centre (not covered by the sticky
# first column).
IN_VIEW = """element => {
  element.scrollIntoView({block: "center", inline: "center"});
  const box = element.getBoundingClientRect();
  const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
  return {
    left: box.left, right: box.right, text: element.innerText.trim(),
    shown: hit !== null && (hit === element || element.contains(hit)),
    pageScrolledSideways: window.scrollX !== 0,
  };
}"""


def _open(browser: Any, page_file: Path, width: int, scheme: str) -> tuple[Any, Seen]:
    context = browser.new_context(
        viewport={"width": width, "height": WIDTHS[width]}, color_scheme=scheme
    )
    page = context.new_page()
    seen = Seen()
    page.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    page.on("request", lambda request: seen.requests.append(request.url))
    page.goto(page_file.as_uri(), wait_until="load")
    return page, seen


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_report_reads_well_in_a_browser(
    pages: dict[str, Path], reports: dict[str, Report], browser: Any,
    lang: str, width: int, scheme: str,
) -> None:  # fmt: skip
    page, seen = _open(browser, pages[lang], width, scheme)
    try:
        report, texts = reports[lang], page_texts(language(lang))
        assert page.evaluate("document.documentElement.scrollWidth") <= width

        headers = page.locator("table.map thead th")
        flag_row = page.locator("table.map tbody tr").filter(
            has=page.locator("th", has_text=texts["flag"])
        )
        flags = flag_row.locator("td")
        assert headers.count() == flags.count() + 1 == len(report.stages) + 1
        for index, row in enumerate(report.stages):
            for cell, expected in (
                (headers.nth(index + 1), row.stage.name),
                (flags.nth(index), texts[row.stage.flag.level.value]),
            ):
                assert cell.is_visible()
                where = cell.evaluate(IN_VIEW)
                assert where["text"] == expected
                assert where["left"] >= 0 and where["right"] <= width, (expected, where)
                assert where["shown"], f"{expected!r} is covered at {width} px"
                assert not where["pageScrolledSideways"]

        # The emotion curve's words are drawn at their size, never shrunk to a smudge.
        heights = page.locator("svg text").evaluate_all(
            "texts => texts.map(t => t.getBoundingClientRect().height)"
        )
        assert heights and min(heights) >= 11

        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert seen.errors == []
        assert seen.requests == [pages[lang].as_uri()]
    finally:
        page.context.close()
