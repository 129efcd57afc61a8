"""CSV and XLSX exports (SPEC §4 "Outputs"): the aggregated map — one row per stage and per
touchpoint — and the raw answers of a period.

Raw answers carry no customer id, order id or reference (privacy): only what was answered,
where on the map, when, and in which segment. They are streamed from the database in
batches, so an export of any length holds one batch in memory.

Units in the map export: CSAT in % (0–100), NPS and its margin in points, changes of CSAT
and NPS in percentage points, a stage's response rate in % of the waves sent that ask about
it (empty on touchpoint rows: waves are answered as a whole, not per touchpoint); empty
where a figure has no value.

Long exports report their progress: `count_answers` gives the total up front (one COUNT
over the same filters), and the writers call back with the rows written so far after each
batch and once at the end.

XLSX is written without a dependency: a minimal Office Open XML workbook (zip + XML, inline
strings, no shared strings, no styles beyond the default) that Excel and LibreOffice open.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self, TextIO
from xml.sax.saxutils import escape, quoteattr
from zipfile import ZIP_DEFLATED, ZipFile

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reports.aggregate import Period
from reports.report import Cell, Report, StageRow
from storage.models import Answer

BATCH = 1000  # answers fetched per round trip, and written between progress calls

RowsWritten = Callable[[int], None]  # the number of answers written so far

MAP_COLUMNS = (
    "level", "stage_id", "stage", "touchpoint_id", "touchpoint",
    "answers", "ratings", "average_rating", "csat", "nps_answers", "nps", "nps_margin",
    "valence_answers", "mean_valence", "comments", "flag", "reason",
    "previous_answers", "previous_average_rating", "previous_csat", "previous_nps",
    "previous_mean_valence",
    "change_answers", "change_average_rating", "change_csat", "change_nps",
    "change_mean_valence",
    "waves_answered", "waves_sent", "response_rate",
    "customers", "rating_estimate", "rating_low", "rating_high", "csat_estimate", "csat_low",
    "csat_high", "nps_estimate", "nps_low", "nps_high",
)  # fmt: skip
# The customer-level estimates (shrunk, reports.evidence) and their 90 % intervals, in the
# units of the columns above: stars, % and NPS points.
_ESTIMATES = (("rating", 1.0, 3), ("csat", 100.0, 1), ("nps", 100.0, 1))

# Never customer_id, order_id or dispatch_id: an export leaves the building.
ANSWER_COLUMNS = (
    "id", "answered_at", "day", "survey_id", "wave_id", "question_id", "stage",
    "touchpoint", "kind", "segment", "rating", "nps", "emotion", "valence", "choice",
    "comment", "skipped",
)  # fmt: skip

# A spreadsheet treats a cell starting with one of these as a formula: customer text is
# prefixed with an apostrophe in CSV so that it stays text (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _round(value: float | None, digits: int, scale: float = 1.0) -> float | None:
    return None if value is None else round(value * scale, digits)


def _map_row(level: str, row: StageRow, touchpoint: Cell | None) -> list[object]:
    stage = row.stage
    cell = touchpoint or stage
    f, p, c = cell.figures, cell.previous, cell.change
    answered, sent = (None, None) if touchpoint else row.response
    return [
        level,
        stage.id,
        stage.name,
        touchpoint.id if touchpoint else None,
        touchpoint.name if touchpoint else None,
        f.answers,
        f.ratings,
        _round(f.average_rating, 3),
        _round(f.csat, 1, 100),
        f.nps_answers,
        _round(f.nps, 1),
        _round(f.nps_margin, 1),
        f.valence_answers,
        _round(f.mean_valence, 3),
        f.comments,
        str(cell.flag.level),
        cell.flag.sentence,
        p.answers,
        _round(p.average_rating, 3),
        _round(p.csat, 1, 100),
        _round(p.nps, 1),
        _round(p.mean_valence, 3),
        c.answers,
        _round(c.average_rating, 3),
        _round(c.csat, 1, 100),
        _round(c.nps, 1),
        _round(c.mean_valence, 3),
        answered,
        sent,
        None if touchpoint else _round(row.response_rate, 1, 100),
        cell.customers,
        *_estimates(cell),
    ]


def _estimates(cell: Cell) -> list[float | None]:
    values: list[float | None] = []
    for metric, scale, digits in _ESTIMATES:
        estimate = cell.estimates.get(metric)
        if estimate is None:
            values += [None, None, None]
            continue
        low, high = estimate.interval()
        values += [_round(estimate.posterior, digits, scale), _round(low, digits, scale),
                   _round(high, digits, scale)]  # fmt: skip
    return values


def map_rows(report: Report) -> list[list[object]]:
    """The aggregated map, header first: each stage, then its touchpoints."""
    rows: list[list[object]] = [list(MAP_COLUMNS)]
    for row in report.stages:
        rows.append(_map_row("stage", row, None))
        rows.extend(_map_row("touchpoint", row, tp) for tp in row.touchpoints)
    return rows


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _text(value: object) -> object:
    """Customer text, defused for spreadsheets."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def map_csv(report: Report) -> str:
    """The aggregated map as CSV text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows([_csv_value(v) for v in row] for row in map_rows(report))
    return out.getvalue()


def _answer_filters(survey_id: str, period: Period, segment: str | None) -> list[Any]:
    conditions = [Answer.survey_id == survey_id, Answer.day >= period.start]
    conditions.append(Answer.day < period.end)
    if segment is not None:
        conditions.append(Answer.segment == segment)
    return conditions


def _answers_query(survey_id: str, period: Period, segment: str | None) -> Any:
    columns = [getattr(Answer, name) for name in ANSWER_COLUMNS]
    return (
        select(*columns)
        .where(*_answer_filters(survey_id, period, segment))
        .order_by(Answer.id)
        .execution_options(yield_per=BATCH)
    )


async def count_answers(
    session: AsyncSession, survey_id: str, period: Period, segment: str | None = None
) -> int:
    """How many raw answers an export of the period writes: the total of its progress."""
    statement = select(func.count()).where(*_answer_filters(survey_id, period, segment))
    return int((await session.execute(statement)).scalar_one())


class _Every:
    """Calls `progress` after every BATCH rows, and with the final count on `done`."""

    __slots__ = ("progress", "rows")

    def __init__(self, progress: RowsWritten | None) -> None:
        self.progress = progress
        self.rows = 0

    def add(self) -> None:
        self.rows += 1
        if self.progress is not None and self.rows % BATCH == 0:
            self.progress(self.rows)

    def done(self) -> int:
        if self.progress is not None and (self.rows == 0 or self.rows % BATCH):
            self.progress(self.rows)
        return self.rows


async def answer_rows(
    session: AsyncSession, survey_id: str, period: Period, segment: str | None = None
) -> AsyncIterator[tuple[object, ...]]:
    """The raw answers of the period (ANSWER_COLUMNS), oldest first, fetched BATCH at a
    time from a server-side cursor."""
    result = await session.stream(_answers_query(survey_id, period, segment))
    try:
        async for row in result:
            yield tuple(row)
    finally:
        await result.close()


async def answers_csv(
    session: AsyncSession,
    survey_id: str,
    period: Period,
    segment: str | None,
    out: TextIO,
    progress: RowsWritten | None = None,
) -> int:
    """Write the raw answers of the period to `out` as CSV (header first); the number of
    answers written. Open a file for it with newline=""."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(ANSWER_COLUMNS)
    comment = ANSWER_COLUMNS.index("comment")
    written = _Every(progress)
    async for row in answer_rows(session, survey_id, period, segment):
        values = [_csv_value(v) for v in row]
        values[comment] = _text(values[comment])
        writer.writerow(values)
        written.add()
    return written.done()


# --- XLSX -------------------------------------------------------------------------------

_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAX_CELL_TEXT = 32767  # Excel's limit per cell
# XML 1.0 forbids these; a stray control character in a comment would break the file.
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\]")


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _cell_xml(ref: str, value: object) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    if isinstance(value, datetime | date):
        value = value.isoformat()
    text = _ILLEGAL_XML.sub("", str(value))[:_MAX_CELL_TEXT]
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(text)}</t></is></c>'


def _sheet_name(name: str, taken: set[str]) -> str:
    base = _SHEET_NAME_BAD.sub("_", name).strip("'")[:31] or "Sheet"
    candidate, n = base, 2
    while candidate.lower() in taken:
        suffix = f" ({n})"
        candidate, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(candidate.lower())
    return candidate


class _ClosedOnExit:
    """`with` closes it, whatever happened inside."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


class XlsxWriter(_ClosedOnExit):
    """A workbook written sheet by sheet, row by row, straight into the zip: rows are
    never held in memory. The sheet names are fixed up front; call `sheet()` once per
    name, in order, and write its rows before the next.

        with XlsxWriter(path, ["map", "answers"]) as book:
            with book.sheet() as sheet:
                sheet.row(["a", 1])
    """

    def __init__(self, path: str | Path | IO[bytes], names: Sequence[str]) -> None:
        taken: set[str] = set()
        self.names = [_sheet_name(name, taken) for name in names]
        self._zip = ZipFile(path, "w", ZIP_DEFLATED)
        self._next = 0
        try:
            self._write_package()
        except BaseException:
            self._zip.close()
            raise

    def _write_package(self) -> None:
        count = len(self.names)
        overrides = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for i in range(1, count + 1)
        )
        self._zip.writestr(
            "[Content_Types].xml",
            f'{_XML}<Types xmlns="{_CT_NS}">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            f"{overrides}</Types>",
        )
        self._zip.writestr(
            "_rels/.rels",
            f'{_XML}<Relationships xmlns="{_PKG_REL_NS}">'
            f'<Relationship Id="rId1" Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>",
        )
        sheets = "".join(
            f'<sheet name={quoteattr(name)} sheetId="{i}" r:id="rId{i}"/>'
            for i, name in enumerate(self.names, 1)
        )
        self._zip.writestr(
            "xl/workbook.xml",
            f'{_XML}<workbook xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
            f"<sheets>{sheets}</sheets></workbook>",
        )
        rels = "".join(
            f'<Relationship Id="rId{i}" Type="{_REL_NS}/worksheet" '
            f'Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, count + 1)
        )
        rels += f'<Relationship Id="rId{count + 1}" Type="{_REL_NS}/styles" Target="styles.xml"/>'
        self._zip.writestr(
            "xl/_rels/workbook.xml.rels",
            f'{_XML}<Relationships xmlns="{_PKG_REL_NS}">{rels}</Relationships>',
        )
        self._zip.writestr(
            "xl/styles.xml",
            f'{_XML}<styleSheet xmlns="{_MAIN_NS}">'
            '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
            "</borders>"
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
            "</cellStyleXfs>"
            '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" '
            'xfId="0"/></cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
            "</cellStyles></styleSheet>",
        )

    def sheet(self) -> _Sheet:
        if self._next >= len(self.names):
            raise ValueError("every sheet of the workbook has been written")
        self._next += 1
        handle = self._zip.open(f"xl/worksheets/sheet{self._next}.xml", "w")
        return _Sheet(handle)

    def close(self) -> None:
        try:
            while self._next < len(self.names):  # sheets never written stay empty
                with self.sheet():
                    pass
        finally:
            self._zip.close()


class _Sheet(_ClosedOnExit):
    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self.rows = 0
        handle.write(f'{_XML}<worksheet xmlns="{_MAIN_NS}"><sheetData>'.encode())

    def row(self, values: Iterable[object]) -> None:
        self.rows += 1
        r = self.rows
        cells = "".join(
            _cell_xml(f"{column_letter(i)}{r}", value) for i, value in enumerate(values)
        )
        self._handle.write(f'<row r="{r}">{cells}</row>'.encode())

    def close(self) -> None:
        self._handle.write(b"</sheetData></worksheet>")
        self._handle.close()


def write_xlsx(
    path: str | Path | IO[bytes], sheets: Mapping[str, Iterable[Sequence[object]]]
) -> None:
    """A workbook with one sheet per entry, in order; each row a list of cell values
    (str, int, float, bool, date/datetime as ISO text; None leaves the cell empty)."""
    with XlsxWriter(path, list(sheets)) as book:
        for rows in sheets.values():
            with book.sheet() as sheet:
                for values in rows:
                    sheet.row(values)


async def report_xlsx(
    session: AsyncSession,
    report: Report,
    path: str | Path | IO[bytes],
    progress: RowsWritten | None = None,
) -> int:
    """The 'map' and 'answers' sheets of `report` in one workbook; the answers are streamed
    from the database into the file. Returns the number of answers written."""
    with XlsxWriter(path, ["map", "answers"]) as book:
        with book.sheet() as sheet:
            for values in map_rows(report):
                sheet.row(values)
        with book.sheet() as sheet:
            sheet.row(ANSWER_COLUMNS)
            written = _Every(progress)
            async for row in answer_rows(session, report.survey_id, report.period, report.segment):
                sheet.row(row)
                written.add()
            return written.done()
