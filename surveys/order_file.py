"""Order files for `cjm orders import`: CSV or XLSX with a header row, read a row at a time.

CSV is UTF-8 with or without a byte order mark (Excel's "CSV UTF-8"); the delimiter is the
one of `,` `;` tab that the header line holds most of (Excel in Russian locales writes `;`).
XLSX is read from its first sheet, or a named one, in openpyxl's read-only mode, which
streams the sheet's XML instead of building the workbook in memory.

The header names NewOrder's fields; a few other spellings are accepted, case and spaces
aside (`Order ID` is `order_id`). Other columns are ignored. `purchased_at` is ISO 8601,
with or without a time and a zone (no zone: the business's time zone), or a native XLSX
date; an empty one means "now", as with `cjm order add`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import IO
from zipfile import BadZipFile
from zoneinfo import ZoneInfo

from surveys.journeys import NewOrder, OrderRejected

ALIASES: Mapping[str, tuple[str, ...]] = {
    "external_id": ("external_id", "order_id", "order_number", "order"),
    "customer_ref": ("customer_ref", "customer", "customer_id", "phone"),
    "purchased_at": ("purchased_at", "purchase_date", "date"),
    "segment": ("segment", "branch", "channel"),
}
REQUIRED = ("external_id", "customer_ref")
HEADER = ",".join(ALIASES)
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
DELIMITERS = (",", ";", "\t")
SOURCE = "import"  # Order.source of the orders a file brings

_FIELD_OF = {alias: field for field, aliases in ALIASES.items() for alias in aliases}
_EXAMPLE_TIME = "e.g. 2026-11-23, 2026-11-23 14:05 or 2026-11-23T14:05+03:00"


class OrderFileError(Exception):
    """The file cannot be read as orders at all: one message saying why."""


@dataclass(frozen=True, slots=True)
class FileRow:
    line: int  # the CSV line the record starts on; the XLSX row number
    cells: Sequence[object]


class OrderColumns:
    """Where each of NewOrder's fields is in a row, from the header."""

    def __init__(self, where: Mapping[str, int], ignored: Sequence[str] = ()) -> None:
        self.where = dict(where)
        self.ignored = tuple(ignored)

    @classmethod
    def from_header(cls, cells: Sequence[object], name: str) -> OrderColumns:
        where: dict[str, int] = {}
        titles = [_text(cell) for cell in cells]
        for index, title in enumerate(titles):
            field = _FIELD_OF.get(re.sub(r"[\s-]+", "_", title.lower()))
            if field in where:
                raise OrderFileError(
                    f"{name}: columns {titles[where[field]]!r} and {title!r} both give "
                    f"{field}; keep one"
                )
            if field is not None:
                where[field] = index
        missing = [field for field in REQUIRED if field not in where]
        if missing:
            raise OrderFileError(_missing(name, missing, [t for t in titles if t]))
        ignored = [t for i, t in enumerate(titles) if t and i not in where.values()]
        return cls(where, ignored)

    def external_id(self, cells: Sequence[object]) -> str:
        return self._text(cells, "external_id")

    def order(self, cells: Sequence[object], zone: ZoneInfo) -> NewOrder:
        """The row as a NewOrder; OrderRejected when a cell cannot be read at all."""
        return NewOrder(
            customer_ref=self._text(cells, "customer_ref"),
            external_id=self.external_id(cells),
            purchased_at=_moment(self._cell(cells, "purchased_at"), zone),
            segment=self._text(cells, "segment") or None,
            source=SOURCE,
        )

    def _cell(self, cells: Sequence[object], field: str) -> object:
        index = self.where.get(field)
        return cells[index] if index is not None and index < len(cells) else None

    def _text(self, cells: Sequence[object], field: str) -> str:
        return _text(self._cell(cells, field))


@dataclass(frozen=True, slots=True)
class OrderRows:
    columns: OrderColumns
    rows: Iterator[FileRow]  # data rows after the header; blank ones are left out
    estimate: int | None  # about how many rows there are, for progress; None: unknown


@contextmanager
def open_order_file(path: Path, sheet: str | None = None) -> Iterator[OrderRows]:
    """The file's header read and its rows ready to stream; OrderFileError if unusable."""
    if not path.exists():
        raise OrderFileError(f"{path}: no such file")
    if not path.is_file():
        raise OrderFileError(f"{path}: not a file")
    suffix = path.suffix.lower()
    opened: AbstractContextManager[tuple[Iterator[FileRow], int | None]]
    if suffix in CSV_SUFFIXES:
        if sheet is not None:
            raise OrderFileError(f"{path.name}: --sheet is for .xlsx files; this is CSV")
        opened = _csv_rows(path)
    elif suffix in XLSX_SUFFIXES:
        opened = _xlsx_rows(path, sheet)
    else:
        raise OrderFileError(
            f"{path.name}: cannot read {suffix or 'a file without extension'!r} files; "
            "give a .csv (UTF-8) or .xlsx file"
            + (" — save the .xls as .xlsx" if suffix == ".xls" else "")
        )
    with opened as (raw, estimate):
        rows = (row for row in raw if any(_text(cell) for cell in row.cells))
        header = next(rows, None)
        if header is None:
            raise OrderFileError(f"{path.name}: no rows; expected a header row like {HEADER}")
        yield OrderRows(OrderColumns.from_header(header.cells, path.name), rows, estimate)


@contextmanager
def _csv_rows(path: Path) -> Iterator[tuple[Iterator[FileRow], int | None]]:
    with path.open("rb") as handle:
        first = next((line for line in _lines(handle, path.name) if line.strip()), "")
        handle.seek(0)
        rows = _records(_lines(handle, path.name), _delimiter(first), path.name)
        yield rows, max(0, _count_lines(path) - 1)


def _lines(handle: IO[bytes], name: str) -> Iterator[str]:
    """Decoded a line at a time, so that an encoding error names its line."""
    for number, raw in enumerate(handle, start=1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise OrderFileError(
                f"{name}: line {number} is not UTF-8 text; "
                "in Excel, save it as 'CSV UTF-8 (comma delimited)'"
            ) from None


def _delimiter(header: str) -> str:
    """The one the header line holds most of; a comma if it holds none."""
    counts = {delimiter: header.count(delimiter) for delimiter in DELIMITERS}
    best = max(counts, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _records(lines: Iterator[str], delimiter: str, name: str) -> Iterator[FileRow]:
    reader = csv.reader(lines, delimiter=delimiter)
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise OrderFileError(f"{name}: line {line}: {error}") from None
        yield FileRow(line, cells)


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))


@contextmanager
def _xlsx_rows(path: Path, sheet: str | None) -> Iterator[tuple[Iterator[FileRow], int | None]]:
    # openpyxl is imported here: every other command of the console script starts without it.
    from openpyxl import load_workbook  # noqa: PLC0415
    from openpyxl.utils.exceptions import InvalidFileException  # noqa: PLC0415

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (BadZipFile, InvalidFileException, KeyError, OSError) as error:
        raise OrderFileError(f"{path.name}: not a readable .xlsx workbook ({error})") from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            names = ", ".join(repr(name) for name in book.sheetnames)
            raise OrderFileError(f"{path.name}: no sheet {sheet!r}; the sheets are {names}")
        worksheet = book[sheet] if sheet is not None else book.worksheets[0]
        rows = worksheet.max_row
        yield _sheet_rows(worksheet.iter_rows()), (rows - 1 if rows else None)
    finally:
        book.close()


def _sheet_rows(rows: Iterator[tuple[object, ...]]) -> Iterator[FileRow]:
    for cells in rows:
        # Read-only sheets pad gaps with EmptyCell, which has no row; a blank row is skipped.
        line = next((n for n in (getattr(c, "row", None) for c in cells) if n is not None), None)
        if line is not None:
            yield FileRow(line, [getattr(cell, "value", None) for cell in cells])


def _missing(name: str, missing: Sequence[str], found: Sequence[str]) -> str:
    aliases = "; ".join(
        f"{field}: {', '.join(ALIASES[field][1:])}" for field in ALIASES if len(ALIASES[field]) > 1
    )
    return (
        f"{name}: no {' and no '.join(missing)} column. Expected a header row like\n"
        f"  {HEADER}\n"
        f"(purchased_at and segment may be left out; other names accepted — {aliases}).\n"
        f"Found: {', '.join(found) or 'nothing'}"
    )


def _text(cell: object) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))  # a number-formatted XLSX id or phone: 79990001122.0
    if isinstance(cell, datetime | date | time):
        return cell.isoformat()
    return str(cell).strip()


def _moment(cell: object, zone: ZoneInfo) -> datetime | None:
    if isinstance(cell, datetime):
        moment = cell
    elif isinstance(cell, date):
        moment = datetime.combine(cell, time())
    elif isinstance(cell, str) and cell.strip():
        try:
            moment = datetime.fromisoformat(cell.strip())
        except ValueError:
            raise OrderRejected(
                f"purchased_at: {cell.strip()!r} is not an ISO 8601 date or time ({_EXAMPLE_TIME})"
            ) from None
    elif cell is None or isinstance(cell, str):
        return None
    else:
        raise OrderRejected(
            f"purchased_at: {_text(cell)!r} is not a date; format the cells as dates "
            f"or write ISO 8601 ({_EXAMPLE_TIME})"
        )
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
