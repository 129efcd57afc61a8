"""CSV and XLSX exports (SPEC §4 "Outputs"): the aggregated map — one row per stage and per
touchpoint — and the raw answers of a period.

Raw answers carry no customer id, order id or reference (privacy): only what was answered,
where on the map, when, and in which segment. They are streamed from the database in
batches, so an export of any length holds one batch in memory.

Units in the map export: CSAT in % (0–100), NPS and its margin in points, changes of CSAT
and NPS in percentage points, a stage's response rate in % of the waves sent that ask about
it (empty on touchpoint rows: waves are answered as a whole, not per touchpoint); empty
where a figure has no value. `place_rank` numbers the places to improve (reports.places)
over all stages as the summary does: a stage row's is the stage's as a whole, a touchpoint
row's the touchpoint's; empty where the row is not a place.

Long exports report their progress: `count_answers` gives the total up front (one COUNT
over the same filters), and the writers call back with the rows written so far after each
batch and once at the end.

CSV files start with a UTF-8 byte order mark, so Excel opens Cyrillic as text, not
mojibake; their headers and values stay machine-readable (snake_case, ids). The XLSX is
for people: openpyxl in write-only mode (rows stream to disk, memory stays flat), typed
cells (numbers, dates, booleans), number formats, column widths, an autofilter and a
frozen header, headers and values in the report's language (names, not ids).
"""

from __future__ import annotations

import asyncio
import csv
import io
import math
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any, TextIO, cast

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell, WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reports import place_words
from reports.aggregate import Period
from reports.places import Place, StagePlaces
from reports.render_html import level_labels
from reports.report import Cell as MapCell
from reports.report import Report, StageRow
from reports.texts import t
from reports.words import language, wave_names
from storage.models import Answer
from surveys.model import Survey

BATCH = 1000  # answers fetched per round trip, and written between progress calls
BOM = "\ufeff"  # first in every CSV: Excel then reads it as UTF-8

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
    "csat_high", "nps_estimate", "nps_low", "nps_high", "place_rank",
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


def _map_row(
    level: str, row: StageRow, touchpoint: MapCell | None, rank: int | None
) -> list[object]:
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
        rank,
    ]


def _estimates(cell: MapCell) -> list[float | None]:
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
    ranks = report.places.ranks()  # the place_rank column: empty where it is not a place
    for row in report.stages:
        stage = row.stage.id
        rows.append(_map_row("stage", row, None, ranks.get((stage, None))))
        rows.extend(
            _map_row("touchpoint", row, tp, ranks.get((stage, tp.id))) for tp in row.touchpoints
        )
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
    """The aggregated map as CSV text (a file of it starts with BOM)."""
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
    answers written. Open a file for it with newline="" and write BOM first."""
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

_MAX_CELL_TEXT = 32767  # Excel's limit per cell
INT = None  # whole numbers read right in Excel's General format
DEC1, DEC2 = "0.0", "0.00"
SIGNED_INT, SIGNED1, SIGNED2 = "+0;-0;0", "+0.0;-0.0;0.0", "+0.00;-0.00;0.00"


@dataclass(frozen=True, slots=True)
class Column:
    """A sheet's column: its key (the CSV header), its width in characters and its number
    format; its header is the catalog's col_<sheet>_<key>, in the report's language."""

    key: str
    width: float
    format: str | None = None  # for numbers; dates and times get the locale's
    sheet: str = ""  # set by _sheet

    def header(self, lang: str) -> str:
        return t(lang, f"col_{self.sheet}_{self.key}")


def _sheet(name: str, *columns: Column) -> tuple[Column, ...]:
    return tuple(replace(column, sheet=name) for column in columns)


MAP_SHEET = _sheet(
    "map",
    Column("level", 14),
    Column("stage_id", 14),
    Column("stage", 22),
    Column("touchpoint_id", 16),
    Column("touchpoint", 26),
    Column("answers", 10, INT),
    Column("ratings", 10, INT),
    Column("average_rating", 12, DEC2),
    Column("csat", 10, DEC1),
    Column("nps_answers", 10, INT),
    Column("nps", 9, SIGNED1),
    Column("nps_margin", 12, DEC1),
    Column("valence_answers", 12, INT),
    Column("mean_valence", 12, SIGNED2),
    Column("comments", 12, INT),
    Column("flag", 16),
    Column("reason", 60),
    Column("previous_answers", 14, INT),
    Column("previous_average_rating", 14, DEC2,
    ),
    Column("previous_csat", 14, DEC1),
    Column("previous_nps", 14, SIGNED1),
    Column("previous_mean_valence", 14,
        SIGNED2,
    ),
    Column("change_answers", 12, SIGNED_INT),
    Column("change_average_rating", 14,
        SIGNED2,
    ),
    Column("change_csat", 14, SIGNED1),
    Column("change_nps", 14, SIGNED1),
    Column("change_mean_valence", 14, SIGNED2),
    Column("waves_answered", 12, INT),
    Column("waves_sent", 12, INT),
    Column("response_rate", 12, DEC1),
    Column("customers", 10, INT),
    Column("rating_estimate", 12, DEC2),
    Column("rating_low", 12, DEC2),
    Column("rating_high", 12, DEC2),
    Column("csat_estimate", 12, DEC1),
    Column("csat_low", 12, DEC1),
    Column("csat_high", 12, DEC1),
    Column("nps_estimate", 12, SIGNED1),
    Column("nps_low", 12, SIGNED1),
    Column("nps_high", 12, SIGNED1),
    Column("place_rank", 12, INT),
)  # fmt: skip

ANSWERS_SHEET = _sheet(
    "answers",
    Column("id", 10, INT),
    Column("answered_at", 17),  # a date format
    Column("day", 12),
    Column("survey_id", 12),
    Column("wave_id", 22),
    Column("question_id", 44),
    Column("stage", 20),
    Column("touchpoint", 24),
    Column("kind", 12),
    Column("segment", 14),
    Column("rating", 11, INT),
    Column("nps", 12, INT),
    Column("emotion", 18),
    Column("valence", 12, SIGNED_INT),
    Column("choice", 26),
    Column("comment", 60),
    Column("skipped", 10),
)  # fmt: skip

# Where customers drop out (reports.funnel): a row per wave (its columns up to Expired),
# then a row per question of it (the columns from Shown on).
FUNNEL_SHEET = _sheet(
    "funnel",
    Column("wave", 24),
    Column("question", 50),
    Column("follow_up", 11),
    Column("sent", 11, INT),
    Column("delivered", 11, INT),
    Column("opened", 11, INT),
    Column("completed", 11, INT),
    Column("expired", 11, INT),
    Column("shown", 11, INT),
    Column("answered", 11, INT),
    Column("stopped", 11, INT),
    Column("waiting", 11, INT),
    Column("stop_share", 11, "0%"),
    Column("stop_low", 10, "0%"),
    Column("stop_high", 10, "0%"),
    Column("drop_out", 12),
)  # fmt: skip

# The places to improve (reports.places): a row per place, in rank order (the summary's
# numbering); the stage's figures, suggestions and ideas on each of its places. Importance
# and gain are empty when the stages are ranked by the gap alone (the "Ranked by" column).
PLACES_SHEET = _sheet(
    "places",
    Column("rank", 6, INT),
    Column("stage_rank", 10, INT),
    Column("stage", 22),
    Column("touchpoint", 24),
    Column("flag", 14),
    Column("reason", 50),
    Column("gap", 12, DEC2),
    Column("importance", 13, "0%"),
    Column("importance_low", 11, "0%"),
    Column("importance_high", 11, "0%"),
    Column("gain", 13, DEC2),
    Column("gain_low", 11, DEC2),
    Column("gain_high", 11, DEC2),
    Column("unhappy", 12, INT),
    Column("customers", 12, INT),
    Column("themes", 60),
    Column("quote", 50),
    Column("suggestions", 50),
    Column("ideas", 40),
    Column("ranked_by", 28),
)  # fmt: skip
_ROW_KINDS = ("stage", "touchpoint")  # the catalog's row_<kind>
_KINDS = ("rating", "nps", "emotion", "choice", "text")  # the catalog's kind_<kind>


class _Names:
    """Ids in the answers → what the survey calls them in the report's language."""

    def __init__(self, survey: Survey | None, locale: str) -> None:
        self.lang = language(locale)
        self.kinds = {kind: t(self.lang, f"kind_{kind}") for kind in _KINDS}
        self.row_kinds = {kind: t(self.lang, f"row_{kind}") for kind in _ROW_KINDS}
        self.waves = wave_names(survey, locale) if survey else {}
        self.questions: dict[str, str] = {}
        self.stages: dict[str, str] = {}
        self.touchpoints: dict[tuple[str, str], str] = {}
        self.choices: dict[tuple[str, str], str] = {}
        self.emotions: dict[str, str] = {}
        self.surveys: dict[str, str] = {}
        if survey is not None:
            self._learn(survey, locale)

    def _learn(self, survey: Survey, locale: str) -> None:
        self.surveys[survey.id] = survey.text(survey.title, locale)
        for stage in survey.stages:
            self.stages[stage.id] = survey.text(stage.name, locale)
            for tp in stage.touchpoints:
                self.touchpoints[stage.id, tp.id] = survey.text(tp.name, locale)
        for wave in survey.waves:
            for question in wave.questions:
                self.questions[question.id] = survey.text(question.text, locale)
                for option in question.options:
                    self.choices[question.id, option.id] = survey.text(option.label, locale)
        for emotion in survey.emotions:
            self.emotions[emotion.id] = survey.text(emotion.label, locale)

    def answer(self, row: Sequence[object]) -> list[object]:
        """One answer row (ANSWER_COLUMNS) as the sheet shows it."""
        values = dict(zip(ANSWER_COLUMNS, row, strict=True))
        question, stage = str(values["question_id"]), str(values["stage"])
        touchpoint, choice = values["touchpoint"], values["choice"]
        values["survey_id"] = self.surveys.get(str(values["survey_id"]), values["survey_id"])
        values["wave_id"] = self.waves.get(str(values["wave_id"]), values["wave_id"])
        values["question_id"] = self.questions.get(question, question)
        values["stage"] = self.stages.get(stage, stage)
        if touchpoint is not None:
            values["touchpoint"] = self.touchpoints.get((stage, str(touchpoint)), touchpoint)
        values["kind"] = self.kinds.get(str(values["kind"]), values["kind"])
        if values["emotion"] is not None:
            values["emotion"] = self.emotions.get(str(values["emotion"]), values["emotion"])
        if choice is not None:
            values["choice"] = self.choices.get((question, str(choice)), choice)
        return [values[name] for name in ANSWER_COLUMNS]

    def map_row(self, row: Sequence[object]) -> list[object]:
        values = list(row)
        values[0] = self.row_kinds.get(str(values[0]), values[0])
        flag = MAP_COLUMNS.index("flag")
        values[flag] = level_labels(self.lang).get(str(values[flag]), values[flag])
        return values


class _SheetWriter:
    """A write-only sheet: widths and the frozen header first, rows as they come, the
    autofilter over all of them at the end."""

    def __init__(self, book: Workbook, title: str, columns: Sequence[Column], lang: str) -> None:
        self.sheet = book.create_sheet(_sheet_title(title))
        self.columns = columns
        self.lang = lang
        self.dates = _DateFormats(t(lang, "xlsx_time"), t(lang, "xlsx_date"))
        self.rows = 0
        for index, column in enumerate(columns, start=1):
            self.sheet.column_dimensions[get_column_letter(index)].width = column.width
        self.sheet.freeze_panes = "A2"
        header = [self._text(column.header(lang)) for column in columns]
        for cell in header:
            cell.font = Font(bold=True)
        self.sheet.append(header)

    def append(self, values: Sequence[object]) -> None:
        self.sheet.append(
            [
                self._value(value, column)
                for value, column in zip(values, self.columns, strict=True)
            ]
        )
        self.rows += 1

    def finish(self) -> None:
        last = get_column_letter(len(self.columns))
        self.sheet.auto_filter.ref = f"A1:{last}{self.rows + 1}"

    def _value(self, value: object, column: Column) -> object:
        """A plain value where openpyxl's default does (the cheap path: most cells); a cell
        of its own for a number format, or for text that would be read as a formula."""
        value = _typed(value)
        if isinstance(value, str):
            return self._text(value) if value.startswith("=") else value
        number_format = _format(value, column, self.dates)
        if number_format is None:
            return value
        cell: Cell = WriteOnlyCell(self.sheet, cast(Any, value))
        cell.number_format = number_format
        return cell

    def _text(self, value: str) -> Cell:
        cell: Cell = WriteOnlyCell(self.sheet, value)
        cell.data_type = "s"  # never a formula, whatever the text starts with
        return cell


def _typed(value: object) -> object:
    """What openpyxl can store: naive UTC datetimes, text without XML-illegal characters."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)[:_MAX_CELL_TEXT]
    return value


@dataclass(frozen=True, slots=True)
class _DateFormats:
    """Excel's number formats of a date and time and of a date, in the report's language."""

    moment: str
    day: str


def _format(value: object, column: Column, dates: _DateFormats) -> str | None:
    if isinstance(value, datetime):
        return dates.moment
    if isinstance(value, date):
        return dates.day
    if isinstance(value, int | float) and not isinstance(value, bool):
        return column.format
    return None


def funnel_rows(report: Report, lang: str) -> list[list[object]]:
    """The funnel sheet's rows (FUNNEL_SHEET), waves and their questions in order."""
    yes = t(language(lang), "yes")
    rows: list[list[object]] = []
    for wave in report.funnel.waves:
        counts = [wave.sent, wave.delivered, wave.opened, wave.completed, wave.expired]
        rows.append([wave.name, None, None, *counts, *[None] * 8])
        for q in wave.questions:
            share = q.stop_share
            low, high = share.interval() or (None, None)
            rows.append([
                wave.name, q.text, yes if q.follow_up else None, *[None] * 5, q.reached,
                q.answered, q.stopped, q.waiting, share.value, low, high,
                yes if q.drop_out else None,
            ])  # fmt: skip
    return rows


def place_rows(report: Report, lang: str) -> list[list[object]]:
    """The places sheet's rows (PLACES_SHEET), in rank order."""
    places, flags = report.places, level_labels(language(lang))  # as on the map and the page
    ranked_by = place_words.lane_hint(places, lang)
    rows: list[list[object]] = []
    for stage_rank, stage in enumerate(places.stages, 1):
        for place in stage.places:
            rows.append([
                len(rows) + 1, stage_rank, stage.name,
                None if place.touchpoint is None else place.name,
                flags.get(place.level.value, place.level.value), place.reason or None,
                _round(stage.gap, 3), *_importance_and_gain(stage), stage.unhappy,
                place.customers if place.themes else None, *_place_texts(place, lang),
                " · ".join(stage.suggestions) or None, " · ".join(stage.ideas) or None,
                ranked_by,
            ])  # fmt: skip
    return rows


def _importance_and_gain(stage: StagePlaces) -> list[float | None]:
    """Share, its interval, then the gain and its interval; the gain empty when the stage is
    on target (a place for its flagged cells alone), as the HTML report shows it."""
    if stage.importance is None:
        return [None] * 6
    gain, interval = stage.gain, stage.gain_interval
    gains = [gain, *interval] if stage.gap and gain is not None and interval else [None] * 3
    return [_round(v, 4) for v in (*stage.importance, *gains)]


def _place_texts(place: Place, lang: str) -> list[str | None]:
    """Its pain themes, worded with their customers, and a complaint of the leading one."""
    themes = [place_words.theme_text(place, lang, i) for i in range(len(place.themes))]
    quote = place.themes[0].quotes[0] if place.themes and place.themes[0].quotes else None
    return ["; ".join(t for t in themes if t) or None, quote]


def _places_sheet(book: Workbook, report: Report, lang: str) -> None:
    title = place_words.words(lang)["title"]
    sheet = _SheetWriter(book, title, PLACES_SHEET, lang)
    for values in place_rows(report, lang):
        sheet.append(values)
    sheet.finish()


def _funnel_sheet(book: Workbook, report: Report, lang: str) -> None:
    sheet = _SheetWriter(book, t(lang, "sheet_funnel"), FUNNEL_SHEET, lang)
    for values in funnel_rows(report, lang):
        sheet.append(values)
    sheet.finish()


def _sheet_title(name: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", "_", name)[:31] or "Sheet"


async def report_xlsx(
    session: AsyncSession,
    report: Report,
    path: str | Path | IO[bytes],
    progress: RowsWritten | None = None,
    survey: Survey | None = None,
) -> int:
    """The map, the places to improve (when there are any), where customers drop out
    (when waves were sent) and the answers of `report` as sheets of one workbook, in the
    report's language (with `survey`, waves, questions, stages and choices by name); the
    answers are streamed from the database into the file. Returns the number of answers
    written."""
    names = _Names(survey, report.locale)
    book = Workbook(write_only=True)
    map_title, answers_title = t(names.lang, "sheet_map"), t(names.lang, "sheet_answers")
    sheet = _SheetWriter(book, map_title, MAP_SHEET, names.lang)
    for values in map_rows(report)[1:]:
        sheet.append(names.map_row(values))
    sheet.finish()
    if report.places.stages:
        _places_sheet(book, report, names.lang)
    if report.funnel.waves:
        _funnel_sheet(book, report, names.lang)
    sheet = _SheetWriter(book, answers_title, ANSWERS_SHEET, names.lang)
    written = _Every(progress)
    async for row in answer_rows(session, report.survey_id, report.period, report.segment):
        sheet.append(names.answer(row))
        written.add()
    sheet.finish()
    await asyncio.to_thread(book.save, path)
    return written.done()
