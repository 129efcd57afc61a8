"""The PDF report, drawn from the demo's report: the map on an A4-landscape page, then a
page per stage; its text is text (searchable), in English and Russian, with the title and
date in its metadata."""

from __future__ import annotations

import io
from datetime import date

import pytest
from pypdf import PdfReader

from reports.aggregate import Period
from reports.flags import shown
from reports.render_pdf import render_pdf
from reports.report import Report
from tests.support.demo_data import GENERATED, demo_report

A4_LANDSCAPE = (842, 595)


@pytest.fixture(scope="module")
def pdfs(demo_url: str, cafe_report: Report) -> dict[str, tuple[Report, PdfReader]]:
    reports = {"en": cafe_report, "ru": demo_report(demo_url, locale="ru")}
    return {lang: (r, PdfReader(io.BytesIO(render_pdf(r)))) for lang, r in reports.items()}


def page_text(reader: PdfReader, number: int) -> str:
    return " ".join(reader.pages[number].extract_text().split())


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_map_page_then_a_page_per_stage_all_a4_landscape(
    pdfs: dict[str, tuple[Report, PdfReader]], lang: str
) -> None:
    report, reader = pdfs[lang]
    assert len(reader.pages) == 1 + len(report.stages) == 7
    sizes = {(round(p.mediabox.width), round(p.mediabox.height)) for p in reader.pages}
    assert sizes == {A4_LANDSCAPE}


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_text_can_be_searched_for_every_stage_and_its_flag(
    pdfs: dict[str, tuple[Report, PdfReader]], lang: str
) -> None:
    report, reader = pdfs[lang]
    first = page_text(reader, 0)
    assert report.title in first
    for number, row in enumerate(report.stages, 1):
        assert row.stage.name in first
        stage_page = page_text(reader, number)
        assert stage_page.startswith(row.stage.name)  # the page's heading
        assert row.stage.flag.sentence.split()[0] in stage_page


def test_the_stage_pages_carry_what_customers_said(
    pdfs: dict[str, tuple[Report, PdfReader]],
) -> None:
    report, reader = pdfs["ru"]
    retention = next(n for n, row in enumerate(report.stages, 1) if row.stage.id == "retention")
    text = page_text(reader, retention)
    for words in ("Боли", "Цены", "Частые ответы", "Что сказали клиенты"):
        assert words in text
    # the figure is the customer-level estimate its interval and flag sentence are about
    cell = report.stages[retention - 1].stage
    rating, (low, high) = cell.estimates["rating"].posterior, cell.estimates["rating"].interval()
    assert f"Средняя оценка: {shown('rating', rating, 'ru')} " in text
    assert f"({shown('rating', low, 'ru')}…{shown('rating', high, 'ru')})" in text


def test_the_metadata_names_the_report_and_its_date(
    pdfs: dict[str, tuple[Report, PdfReader]],
) -> None:
    _, reader = pdfs["en"]
    assert reader.metadata is not None
    assert reader.metadata.title == "Cafe: the guest journey — 01.10.2026–14.11.2026"
    assert reader.metadata.creation_date == GENERATED


def test_a_period_without_answers_is_the_map_alone(demo_url: str) -> None:
    report = demo_report(demo_url, Period(date(2020, 1, 1), date(2020, 1, 8)))
    reader = PdfReader(io.BytesIO(render_pdf(report)))
    assert len(reader.pages) == 1 + len(report.stages)
