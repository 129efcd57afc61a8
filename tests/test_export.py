"""CSV and XLSX exports: the aggregated map against the Report's figures, the raw answers
of the demo database (all of the period, streamed, no customer ids), and the XLSX written
without a dependency read back with zipfile + ElementTree."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from xml.etree import ElementTree

import pytest
from sqlalchemy import func, select

from reports import export
from reports.aggregate import Period, change
from reports.export import (
    ANSWER_COLUMNS,
    MAP_COLUMNS,
    answers_csv,
    column_letter,
    map_csv,
    map_rows,
    report_xlsx,
    write_xlsx,
)
from reports.figures import Figures
from reports.files import write_report_files
from reports.report import Cell, Report, StageRow
from storage.db import make_engine, make_session_factory
from storage.models import Answer
from surveys.loader import load_survey
from tests.support.demo_data import WHOLE_DEMO
from tests.support.flags import judged

PART = Period(date(2026, 10, 5), date(2026, 10, 19))
NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


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
    assert float(line["csat"]) == pytest.approx(100 * figures.csat, abs=0.05)
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


def read_xlsx(path: Path | io.BytesIO) -> dict[str, list[list[object]]]:
    """The sheets of a workbook as rows of values (None for an empty cell)."""
    with zipfile.ZipFile(path) as book:
        assert book.testzip() is None
        names = set(book.namelist())
        assert {"[Content_Types].xml", "_rels/.rels", "xl/workbook.xml"} <= names
        workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
        targets = {r.get("Id"): r.get("Target") for r in rels}
        relation = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
        sheets: dict[str, list[list[object]]] = {}
        for sheet in workbook.iterfind("m:sheets/m:sheet", NS):
            target = f"xl/{targets[sheet.get(relation)]}"
            root = ElementTree.fromstring(book.read(target))
            rows: list[list[object]] = []
            for number, row in enumerate(root.iterfind("m:sheetData/m:row", NS), 1):
                assert row.get("r") == str(number)
                values: list[object] = []
                for c in row.iterfind("m:c", NS):
                    ref = c.get("r") or ""
                    column = ref.rstrip("0123456789")
                    assert ref == f"{column}{number}"
                    index = next(i for i in range(200) if column_letter(i) == column)
                    values += [None] * (index - len(values))
                    kind = c.get("t")
                    if kind == "inlineStr":
                        values.append("".join(c.find("m:is", NS).itertext()))  # type: ignore[union-attr]
                    elif kind == "b":
                        values.append(c.findtext("m:v", namespaces=NS) == "1")
                    else:
                        text = c.findtext("m:v", namespaces=NS) or ""
                        values.append(float(text) if "." in text or "e" in text else int(text))
                rows.append(values)
            sheets[str(sheet.get("name"))] = rows
        return sheets


def test_column_letters() -> None:
    assert [column_letter(i) for i in (0, 1, 25, 26, 27, 51, 52, 701, 702)] == [
        "A", "B", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA",
    ]  # fmt: skip


def test_xlsx_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    rows: list[list[object]] = [
        ["text", "number", "float", "flag", "empty", "day"],
        ['<b>&"quoted"</b>', 42, 3.25, True, None, date(2026, 11, 1)],
        ["  spaced  \nnew line", -7, 1e-7, False, "", datetime(2026, 11, 1, 9, 30, tzinfo=UTC)],
        ["control\x00\x07chars", 0, float("nan"), None, None, "кофе ☕"],
    ]
    write_xlsx(path, {"map": rows, "answers": [["only"]], "bad/name?": []})
    sheets = read_xlsx(path)
    assert list(sheets) == ["map", "answers", "bad_name_"]
    got = sheets["map"]
    assert got[0] == rows[0]
    assert got[1] == ['<b>&"quoted"</b>', 42, 3.25, True, None, "2026-11-01"]
    assert got[2] == ["  spaced  \nnew line", -7, 1e-7, False, None, "2026-11-01T09:30:00+00:00"]
    assert got[3] == ["controlchars", 0, "nan", None, None, "кофе ☕"]
    assert sheets["answers"] == [["only"]]
    assert sheets["bad_name_"] == []


def test_xlsx_in_memory() -> None:
    buffer = io.BytesIO()
    write_xlsx(buffer, {"s": [[1, "a"]]})
    buffer.seek(0)
    assert read_xlsx(buffer) == {"s": [[1, "a"]]}


async def test_report_xlsx_has_the_map_and_every_answer(
    demo: tuple[str, Report], tmp_path: Path
) -> None:
    url, report = demo
    path = tmp_path / "report.xlsx"
    engine = make_engine(url)
    try:
        async with make_session_factory(engine)() as session:
            written = await report_xlsx(session, report, path)
    finally:
        await engine.dispose()
    sheets = read_xlsx(path)
    assert list(sheets) == ["map", "answers"]
    expected_map = [[None if v == "" else v for v in row] for row in map_rows(report)]
    got_map = sheets["map"]
    assert len(got_map) == len(expected_map)
    for got, row in zip(got_map, expected_map, strict=True):
        want = list(row)
        while want and want[-1] is None:  # trailing empty cells are not written
            want.pop()
        assert got == want
    answers = sheets["answers"]
    assert answers[0] == list(ANSWER_COLUMNS)
    assert written == len(answers) - 1 == await count_answers(url, WHOLE_DEMO)
    comment = ANSWER_COLUMNS.index("comment")
    _, csv_rows, _ = await export_answers(url, WHOLE_DEMO)
    texts = [r["comment"] for r in csv_rows]
    assert [row[comment] if len(row) > comment else None for row in answers[1:]] == [
        t or None for t in texts
    ]


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_libreoffice_opens_the_workbook(tmp_path: Path) -> None:
    rows: list[list[object]] = [["name", "n", "share"], ["Café <&>", 3, 0.25], ["x", None, True]]
    write_xlsx(tmp_path / "book.xlsx", {"map": rows, "answers": [["id"], [1], [2]]})
    # Every sheet to its own CSV (filter options: comma, quote, UTF-8, …, all sheets).
    options = "44,34,76,1,,0,false,true,false,false,false,-1"
    subprocess.run(
        ["soffice", "--headless", "--convert-to", f"csv:Text - txt - csv (StarCalc):{options}",
         "--outdir", str(tmp_path / "out"), str(tmp_path / "book.xlsx")],
        check=True, capture_output=True, timeout=120,
        env={**os.environ, "HOME": str(tmp_path)},
    )  # fmt: skip
    map_sheet = (tmp_path / "out" / "book-map.csv").read_text(encoding="utf-8")
    answers_sheet = (tmp_path / "out" / "book-answers.csv").read_text(encoding="utf-8")
    assert list(csv.reader(io.StringIO(map_sheet))) == [
        ["name", "n", "share"], ["Café <&>", "3", "0.25"], ["x", "", "TRUE"],
    ]  # fmt: skip
    assert list(csv.reader(io.StringIO(answers_sheet))) == [["id"], ["1"], ["2"]]


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
        "map.png", "report.html", "map.csv", "answers.csv", "report.xlsx",
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
