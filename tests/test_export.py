"""CSV and XLSX exports: the aggregated map against the Report's figures, the raw answers
of the demo database (all of the period, streamed, no customer ids), CSV files with a BOM,
and the XLSX read back with openpyxl: typed, formatted, filterable, in the report's
language."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from reports import export
from reports.aggregate import Period, change
from reports.export import (
    ANSWER_COLUMNS,
    ANSWERS_SHEET,
    FUNNEL_SHEET,
    MAP_COLUMNS,
    MAP_SHEET,
    PLACES_SHEET,
    answers_csv,
    funnel_rows,
    map_csv,
    place_rows,
    report_xlsx,
)
from reports.figures import Figures
from reports.files import write_report_files
from reports.report import Cell, Report, StageRow
from storage.db import make_engine, make_session_factory
from storage.models import Answer
from surveys.loader import load_survey
from tests.support.demo_data import WHOLE_DEMO, demo_report
from tests.support.flags import judged

PART = Period(date(2026, 10, 5), date(2026, 10, 19))


@pytest.fixture(scope="module")
def demo(demo_url: str, cafe_report: Report) -> tuple[str, Report]:
    return demo_url, cafe_report


async def count_answers(url: str, period: Period, segment: str | None = None) -> int:
    engine = make_engine(url)
    try:
        async with make_session_factory(engine)() as session:
            statement = select(func.count()).where(
                Answer.survey_id == "cafe", Answer.day >= period.start, Answer.day < period.end
            )
            if segment is not None:
                statement = statement.where(Answer.segment == segment)
            return int((await session.execute(statement)).scalar_one())
    finally:
        await engine.dispose()


async def export_answers(
    url: str, period: Period, segment: str | None = None
) -> tuple[int, list[dict[str, str]], list[str]]:
    engine = make_engine(url)
    out = io.StringIO(newline="")
    try:
        async with make_session_factory(engine)() as session:
            written = await answers_csv(session, "cafe", period, segment, out)
    finally:
        await engine.dispose()
    reader = csv.DictReader(io.StringIO(out.getvalue(), newline=""))
    rows = list(reader)
    return written, rows, list(reader.fieldnames or [])


# --- the map ------------------------------------------------------------------------------


def test_map_csv_has_a_row_per_stage_and_touchpoint(demo: tuple[str, Report]) -> None:
    _, report = demo
    rows = list(csv.DictReader(io.StringIO(map_csv(report), newline="")))
    assert list(rows[0]) == list(MAP_COLUMNS)
    expected = sum(1 + len(row.touchpoints) for row in report.stages)
    assert len(rows) == expected
    assert [r["stage_id"] for r in rows if r["level"] == "stage"] == [
        row.stage.id for row in report.stages
    ]
    assert all(r["touchpoint"] == "" for r in rows if r["level"] == "stage")
    assert all(r["touchpoint"] != "" for r in rows if r["level"] == "touchpoint")


def test_map_csv_values_match_the_report(demo: tuple[str, Report]) -> None:
    _, report = demo
    rows = list(csv.DictReader(io.StringIO(map_csv(report), newline="")))
    retention = next(row for row in report.stages if row.stage.id == "retention")
    line = next(r for r in rows if r["level"] == "stage" and r["stage_id"] == "retention")
    figures = retention.stage.figures
    assert line["stage"] == "Retention"
    assert int(line["answers"]) == figures.answers
    assert int(line["ratings"]) == figures.ratings
    assert figures.average_rating is not None and figures.csat is not None
    assert float(line["average_rating"]) == pytest.approx(figures.average_rating, abs=5e-4)
    # One decimal: 18.75 may be written 18.8, exactly 0.05 away.
    assert float(line["csat"]) == pytest.approx(100 * figures.csat, abs=0.05 + 1e-9)
    assert line["flag"] == "problem"
    assert line["reason"] == retention.stage.flag.sentence
    assert int(line["change_answers"]) == retention.stage.change.answers
    # The whole demo has no earlier period: nothing to compare with.
    assert line["previous_average_rating"] == ""
    assert line["change_csat"] == ""
    for row in report.stages:
        for tp in row.touchpoints:
            line = next(
                r for r in rows if r["touchpoint_id"] == tp.id and r["stage_id"] == row.stage.id
            )
            assert int(line["answers"]) == tp.figures.answers
            assert line["flag"] == str(tp.flag.level)
            nps = tp.figures.nps
            assert line["nps"] == ("" if nps is None else str(round(nps, 1)))


def test_map_csv_change_columns() -> None:
    now = Figures(answers=20, ratings=20, rating_sum=60, rating_squares=200, satisfied=6,
                  nps_answers=10, promoters=2, detractors=5)  # fmt: skip
    before = Figures(answers=25, ratings=20, rating_sum=90, rating_squares=410, satisfied=18,
                     nps_answers=10, promoters=6, detractors=1)  # fmt: skip
    cell = Cell("visit", "Visit", now, before, change(now, before), judged(now))
    report = Report(
        "tiny", "Tiny", "en", Period(date(2026, 11, 9), date(2026, 11, 16)), None,
        datetime(2026, 11, 16, tzinfo=UTC), (StageRow(cell, (), ()),), {}, (),
    )  # fmt: skip
    [line] = csv.DictReader(io.StringIO(map_csv(report), newline=""))
    assert line["flag"] == "problem"
    assert (line["average_rating"], line["previous_average_rating"]) == ("3.0", "4.5")
    assert line["change_average_rating"] == "-1.5"
    assert (line["csat"], line["previous_csat"], line["change_csat"]) == ("30.0", "90.0", "-60.0")
    assert (line["nps"], line["previous_nps"], line["change_nps"]) == ("-30.0", "50.0", "-80.0")
    assert (line["previous_answers"], line["change_answers"]) == ("25", "-5")
    assert line["mean_valence"] == line["change_mean_valence"] == ""
    assert line["reason"] == cell.flag.sentence


def test_map_csv_numbers_the_places_to_improve(demo: tuple[str, Report]) -> None:
    """The demo plants a weak loyalty card (retention's return visit) and the queue at
    purchase: the first two places, numbered as the summary numbers them."""
    _, report = demo
    rows = list(csv.DictReader(io.StringIO(map_csv(report), newline="")))
    assert list(rows[0])[-1] == "place_rank"
    ranked = {(r["stage_id"], r["touchpoint_id"]): int(r["place_rank"])
              for r in rows if r["place_rank"]}  # fmt: skip
    assert ranked[("retention", "return_visit")] == 1
    assert ranked[("purchase", "")] == 2
    top = report.places.top(len(ranked))
    assert sorted(ranked, key=ranked.__getitem__) == [
        (stage.stage, place.touchpoint or "") for stage, place in top
    ]
    retention = next(r for r in rows if r["level"] == "stage" and r["stage_id"] == "retention")
    assert retention["place_rank"] == ""  # a place for its return visit, not as a whole
    interest = [r for r in rows if r["stage_id"] == "interest"]
    assert interest and all(r["place_rank"] == "" for r in interest)  # a fine stage


# --- raw answers --------------------------------------------------------------------------


async def test_answers_csv_writes_every_answer_of_the_period(
    demo: tuple[str, Report], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = demo
    monkeypatch.setattr(export, "BATCH", 7)  # many batches
    for period in (WHOLE_DEMO, PART):
        written, rows, header = await export_answers(url, period)
        expected = await count_answers(url, period)
        assert written == len(rows) == expected > 0
        assert header == list(ANSWER_COLUMNS)
        assert not {"customer_id", "order_id", "dispatch_id", "ref"} & set(header)
        assert [int(r["id"]) for r in rows] == sorted(int(r["id"]) for r in rows)
        days = {date.fromisoformat(r["day"]) for r in rows}
        assert min(days) >= period.start
        assert max(days) < period.end
    assert {r["kind"] for r in rows} >= {"rating", "text"}
    assert {r["skipped"] for r in rows} <= {"true", "false"}
    assert any(r["comment"] for r in rows)


async def test_answers_csv_by_segment(demo: tuple[str, Report]) -> None:
    url, _ = demo
    _, everything, _ = await export_answers(url, WHOLE_DEMO)
    segments = {r["segment"] for r in everything if r["segment"]}
    assert segments
    segment = sorted(segments)[0]
    written, rows, _ = await export_answers(url, WHOLE_DEMO, segment)
    assert written == await count_answers(url, WHOLE_DEMO, segment)
    assert 0 < written < len(everything)
    assert {r["segment"] for r in rows} == {segment}


async def test_answers_csv_of_an_empty_period(demo: tuple[str, Report]) -> None:
    url, _ = demo
    written, rows, header = await export_answers(url, Period(date(2020, 1, 1), date(2020, 1, 8)))
    assert written == 0
    assert rows == []
    assert header == list(ANSWER_COLUMNS)


def test_customer_text_cannot_become_a_formula() -> None:
    assert export._text("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert export._text("-1") == "'-1"
    assert export._text("fine") == "fine"


# --- XLSX ---------------------------------------------------------------------------------


async def xlsx_of(url: str, report: Report, path: Path) -> int:
    engine = make_engine(url)
    try:
        async with make_session_factory(engine)() as session:
            return await report_xlsx(session, report, path, survey=load_survey("cafe"))
    finally:
        await engine.dispose()


def rounded(rows: Sequence[Sequence[object]]) -> list[list[object]]:
    """Shares as Excel keeps them (15 significant digits)."""
    return [[round(v, 9) if isinstance(v, float) else v for v in row] for row in rows]


def assert_places_in_english(book: Workbook, report: Report) -> None:
    """The demo's planted places first: the weak loyalty card, then the queue."""
    places = book["Places to improve"]
    values = [[cell.value for cell in row] for row in places.iter_rows()]
    assert values[0] == [column.header("en") for column in PLACES_SHEET]
    assert rounded(values[1:]) == rounded(place_rows(report, "en"))
    assert places.auto_filter.ref == f"A1:T{places.max_row}"
    row = {column.key: cell for column, cell in zip(PLACES_SHEET, places[2], strict=True)}
    first = report.places.stages[0]
    assert (row["rank"].value, row["stage"].value, row["touchpoint"].value) == (
        1, "Retention", "Return visit",
    )  # fmt: skip
    assert row["flag"].value == "Problem"
    assert str(row["themes"].value).startswith("Loyalty card and rewards: ")
    assert "customers (" in str(row["themes"].value)
    assert first.importance is not None and first.gain is not None
    assert row["importance"].value == pytest.approx(first.importance[0], abs=1e-4)
    assert row["importance"].number_format == "0%"
    assert row["gain"].value == pytest.approx(first.gain, abs=1e-4)
    assert row["gain_low"].value < row["gain"].value < row["gain_high"].value
    assert row["gain"].number_format == "0.00"
    assert row["ranked_by"].value == "ranked by expected gain"
    second = {column.key: cell.value for column, cell in zip(PLACES_SHEET, places[3], strict=True)}
    assert (second["rank"], second["stage"], second["touchpoint"]) == (2, "Purchase", None)
    assert str(second["themes"]).startswith("Queue and waiting: ")
    assert second["ideas"] == " · ".join(report.places.stages[1].ideas)


async def test_report_xlsx_is_typed_filterable_and_in_english(
    demo: tuple[str, Report], tmp_path: Path
) -> None:
    url, report = demo
    path = tmp_path / "report.xlsx"
    written = await xlsx_of(url, report, path)

    book = load_workbook(path)
    assert book.sheetnames == ["Map", "Places to improve", "Drop-out", "Answers"]
    answers, the_map = book["Answers"], book["Map"]
    funnel = [[cell.value for cell in row] for row in book["Drop-out"].iter_rows()]
    assert report.funnel.waves and funnel[0] == [column.header("en") for column in FUNNEL_SHEET]
    assert rounded(funnel[1:]) == rounded(funnel_rows(report, "en"))
    assert written == answers.max_row - 1 == await count_answers(url, WHOLE_DEMO)
    header = [cell.value for cell in answers[1]]
    assert header == [column.header("en") for column in ANSWERS_SHEET]
    assert header[:6] == ["Answer no.", "Answered, UTC", "Day, UTC", "Survey", "Wave", "Question"]
    assert [column.key for column in ANSWERS_SHEET] == list(ANSWER_COLUMNS)
    assert all(cell.font.bold for cell in answers[1])
    assert answers.freeze_panes == the_map.freeze_panes == "A2"
    assert answers.auto_filter.ref == f"A1:Q{answers.max_row}"
    assert the_map.auto_filter.ref == f"A1:AO{the_map.max_row}"
    assert answers.column_dimensions["P"].width == 60  # the comments
    assert the_map.column_dimensions["Q"].width == 60  # the reasons

    rows = list(answers.iter_rows(min_row=2))
    first = {column.key: cell for column, cell in zip(ANSWERS_SHEET, rows[0], strict=False)}
    assert isinstance(first["answered_at"].value, datetime)
    assert first["answered_at"].number_format == "yyyy-mm-dd hh:mm"
    assert first["day"].value.date() >= WHOLE_DEMO.start  # a date cell, read back as datetime
    assert first["day"].number_format == "yyyy-mm-dd"
    assert isinstance(first["id"].value, int) and first["id"].number_format == "General"
    assert first["valence"].value is None or first["valence"].number_format == "+0;-0;0"
    column = {key.key: index for index, key in enumerate(ANSWERS_SHEET)}
    waves = {row[column["wave_id"]].value for row in rows}
    assert waves == {"After the visit", "A few days later", "Three weeks later"}
    kinds = {row[column["kind"]].value for row in rows}
    assert kinds <= {"Rating", "NPS", "Emotion", "Choice", "Text"} and "Rating" in kinds
    stages = {row[column["stage"]].value for row in rows}
    assert "Retention" in stages and "retention" not in stages
    assert "How did you first hear about us?" in {row[column["question_id"]].value for row in rows}
    assert {row[column["skipped"]].value for row in rows} <= {True, False}
    ratings = [row[column["rating"]] for row in rows if row[column["rating"]].value is not None]
    assert ratings and all(isinstance(cell.value, int) for cell in ratings)

    assert [cell.value for cell in the_map[1]] == [column.header("en") for column in MAP_SHEET]
    assert [column.key for column in MAP_SHEET] == list(MAP_COLUMNS)
    retention = next(row for row in the_map.iter_rows(min_row=2) if row[1].value == "retention")
    assert (retention[0].value, retention[2].value, retention[15].value) == (
        "Stage",
        "Retention",
        "Problem",
    )
    assert isinstance(retention[7].value, float) and retention[7].number_format == "0.00"
    assert the_map.max_row - 1 == sum(1 + len(row.touchpoints) for row in report.stages)
    assert the_map.cell(the_map.max_row, len(MAP_SHEET)).number_format == "General"
    assert_places_in_english(book, report)


@pytest.fixture(scope="module")
def russian(demo_url: str) -> Report:
    return demo_report(demo_url, locale="ru")


async def test_report_xlsx_in_russian(demo_url: str, russian: Report, tmp_path: Path) -> None:
    report = russian
    path = tmp_path / "отчёт.xlsx"
    await xlsx_of(demo_url, report, path)

    book = load_workbook(path)
    assert book.sheetnames == ["Карта", "Что улучшить", "Где бросают", "Ответы"]
    places = [[cell.value for cell in row] for row in book["Что улучшить"].iter_rows()]
    assert places[0][:4] == ["№", "Место этапа", "Этап", "Точка контакта"]
    assert rounded(places[1:]) == rounded(place_rows(report, "ru"))
    assert places[1][2:5] == ["Возвращение", "Повторный визит", "Проблема"]
    assert str(places[1][15]).startswith("Карта лояльности и бонусы: ")
    assert "недовольных" in str(places[1][15])
    assert places[1][-1] == "по ожидаемому эффекту"
    funnel = [[cell.value for cell in row] for row in book["Где бросают"].iter_rows()]
    assert funnel[0][:4] == ["Волна", "Вопрос", "Уточняющий", "Отправлено"]
    assert rounded(funnel[1:]) == rounded(funnel_rows(report, "ru"))
    answers, the_map = book["Ответы"], book["Карта"]
    assert [cell.value for cell in answers[1]][:6] == [
        "№ ответа", "Время ответа, UTC", "День, UTC", "Опрос", "Волна", "Вопрос",
    ]  # fmt: skip
    assert [cell.value for cell in the_map[1]][:5] == [
        "Строка", "Код этапа", "Этап", "Код точки контакта", "Точка контакта",
    ]  # fmt: skip
    second = next(answers.iter_rows(min_row=2, max_row=2))
    assert second[1].number_format == "dd.mm.yyyy hh:mm"
    assert second[2].number_format == "dd.mm.yyyy"
    assert (second[3].value, second[4].value) == ("Кафе: путь гостя", "После визита")
    assert second[8].value in {"Оценка", "NPS", "Эмоция", "Выбор", "Текст"}
    levels = {row[0].value for row in the_map.iter_rows(min_row=2)}
    flags = {row[15].value for row in the_map.iter_rows(min_row=2)}
    assert levels == {"Этап", "Точка контакта"}
    assert "Проблема" in flags and flags <= {"Проблема", "Внимание", "Норма", "Мало данных"}


def test_places_ranked_by_the_gap_alone_have_no_gain(demo: tuple[str, Report]) -> None:
    _, report = demo
    places = report.places
    by_gap = dataclasses.replace(
        places, by_gain=False,
        stages=tuple(dataclasses.replace(s, importance=None) for s in places.stages),
    )  # fmt: skip
    rows = place_rows(dataclasses.replace(report, places=by_gap), "en")
    column = {c.key: i for i, c in enumerate(PLACES_SHEET)}
    gains = ("importance", "importance_low", "importance_high", "gain", "gain_low", "gain_high")
    assert rows and all(row[column[key]] is None for row in rows for key in gains)
    assert rows[0][column["gap"]] == pytest.approx(places.stages[0].gap, abs=1e-3)
    assert {row[column["ranked_by"]] for row in rows} == {
        "ranked by the gap alone: too few NPS answers"
    }


def test_xlsx_text_stays_text(tmp_path: Path) -> None:
    book = Workbook(write_only=True)
    columns = export._sheet("answers", export.Column("comment", 60))
    sheet = export._SheetWriter(book, "Answers", columns, "en")
    for text in ('=HYPERLINK("http://x")', "control\x00\x07chars", "кофе ☕", "+7 999"):
        sheet.append([text])
    sheet.finish()
    book.save(tmp_path / "book.xlsx")

    cells = [row[0] for row in load_workbook(tmp_path / "book.xlsx")["Answers"].iter_rows()]
    assert [cell.value for cell in cells] == [
        "Comment", "=HYPERLINK(\"http://x\")", "controlchars", "кофе ☕", "+7 999",
    ]  # fmt: skip
    assert {cell.data_type for cell in cells} == {"s"}


# --- progress -----------------------------------------------------------------------------


async def test_count_answers_counts_what_the_export_writes(demo: tuple[str, Report]) -> None:
    url, _ = demo
    engine = make_engine(url)
    try:
        async with make_session_factory(engine)() as session:
            for period, segment in ((WHOLE_DEMO, None), (PART, None), (WHOLE_DEMO, "nobody")):
                counted = await export.count_answers(session, "cafe", period, segment)
                assert counted == await count_answers(url, period, segment)
    finally:
        await engine.dispose()


async def test_the_report_files_count_their_rows_up_to_the_total(
    demo: tuple[str, Report], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = demo
    monkeypatch.setattr(export, "BATCH", 100)  # several progress calls per file
    calls: list[tuple[str, int, int]] = []
    steps: list[str] = []
    engine = make_engine(url)
    try:
        written = await write_report_files(
            make_session_factory(engine), load_survey("cafe"), WHOLE_DEMO, tmp_path,
            datetime(2026, 11, 15, tzinfo=UTC), locale="en", progress=steps.append,
            rows=lambda *call: calls.append(call),
        )  # fmt: skip
    finally:
        await engine.dispose()

    assert [path.name for path in written] == [
        "map.png", "report.html", "report.pdf", "map.csv", "answers.csv", "report.xlsx",
    ]  # fmt: skip
    total = await count_answers(url, WHOLE_DEMO)
    assert total > 300
    assert [name for name, _, _ in calls] == sorted(
        (name for name, _, _ in calls), key=["answers.csv", "report.xlsx"].index
    )
    for name in ("answers.csv", "report.xlsx"):
        counts = [done for file, done, _ in calls if file == name]
        assert counts[0] == 0
        assert counts == sorted(counts) and len(set(counts)) == len(counts) > 3
        assert counts[-1] == total
        assert {of for file, _, of in calls if file == name} == {total}
    assert steps[-1] == f"{total} answers exported"
    for name in ("map.csv", "answers.csv"):  # Excel reads Cyrillic right only after a BOM
        content = (tmp_path / name).read_bytes()
        assert content.startswith(b"\xef\xbb\xbf") and not content.startswith(b"\xef\xbb\xbf" * 2)
