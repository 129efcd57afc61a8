"""`cjm orders import`: the orders of a CSV or XLSX file, checked row by row, written in chunks.

Every row is checked the way `Journeys.register_order` checks an order (`validate_order`),
after its cells are read (surveys.order_file); an external id that repeats an earlier row of
the file is rejected too. The file is streamed: what stays in memory is one chunk of orders,
the external ids seen so far and the first LISTED rejections.

All or nothing by default: a first pass reads and checks the whole file without writing;
only a file with no bad row is read again and written, CHUNK orders per transaction. With
`skip_bad` one pass checks and writes, and bad rows are listed instead of stopping it.
`dry_run` checks (and looks up which orders are known already) but writes nothing.

If the process dies mid-way, the chunks committed so far stay in the database. The import is
idempotent on external_id: run it again with the same file and the orders already saved count
as "already known" while the rest are created.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import orders
from storage.models import Journey
from surveys.journeys import Journeys, NewOrder, OrderReceipt, OrderRejected, validate_order
from surveys.order_file import FileRow, OrderColumns, OrderFileError, OrderRows, open_order_file

CHUNK = 500  # orders per transaction, and rows between progress reports
LISTED = 1000  # rejected rows listed one by one; any more are only counted
PROGRESS_FROM = 10_000  # rows: a smaller file shows no progress

Chunk = Callable[[Sequence[NewOrder], "ImportSummary"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    reason: str


@dataclass(slots=True)
class ImportSummary:
    name: str
    dry_run: bool = False
    written: bool = False  # a writing pass ran: the counts are of orders saved
    rows: int = 0
    created: int = 0  # on a dry run: would be created
    known: int = 0
    rejected: int = 0
    listed: list[Rejection] = field(default_factory=list)
    ignored: tuple[str, ...] = ()
    error: str | None = None  # what stopped the import before the end of the file

    def reject(self, line: int, reason: str) -> None:
        self.rejected += 1
        if len(self.listed) < LISTED:
            self.listed.append(Rejection(line, reason))

    @property
    def exit_code(self) -> int:
        """2: stopped by an error; 1: rows rejected; 0: every row created or known."""
        return 2 if self.error else 1 if self.rejected else 0

    def text(self) -> str:
        """Rejected rows, ignored columns and the counts; `error` is apart, for stderr."""
        if self.error and not self.rows:
            return ""
        lines = [f"line {r.line}: {r.reason}" for r in self.listed]
        if self.rejected > len(self.listed):
            lines.append(f"… and {self.rejected - len(self.listed):,} more rejected rows")
        if self.ignored:
            lines.append("ignored columns: " + ", ".join(self.ignored))
        return "\n".join([*lines, self._outcome()])

    def _outcome(self) -> str:
        head = f"{self.name}: {self.rows:,} rows"
        if self.dry_run:
            return (
                f"{head} checked, nothing written (dry run): {self.created:,} would be "
                f"created, {self.known:,} already known, {self.rejected:,} rejected"
            )
        if not self.written:
            hint = (
                f" (fix them, or import the other {self.rows - self.rejected:,} with --skip-bad)"
            )
            return f"{head}, nothing imported: {self.rejected:,} rejected" + (
                hint if self.rejected else ""
            )
        return (
            f"{head}: {self.created:,} created, {self.known:,} already known, "
            f"{self.rejected:,} rejected"
        )


class OrderImport:
    def __init__(
        self,
        journeys: Journeys,
        sessions: async_sessionmaker[AsyncSession],
        zone: ZoneInfo,
        clock: Callable[[], datetime],
        step: Callable[[str], None] = lambda _text: None,
        rows: Callable[[str, int, int], None] = lambda _name, _done, _total: None,
        receipts: Callable[[Sequence[OrderReceipt]], None] = lambda _receipts: None,
        *,
        known_links: bool = False,
    ) -> None:
        self.journeys = journeys
        self.sessions = sessions
        self.zone = zone
        self.clock = clock
        self.step = step
        self.rows = rows
        self.receipts = receipts  # each written chunk's, once committed
        # Receipts for the orders known already too, those still waiting for their link:
        # a rerun after a crash hands out the links the first run made but never listed.
        self.known_links = known_links

    async def run(
        self,
        path: Path,
        sheet: str | None = None,
        *,
        skip_bad: bool = False,
        dry_run: bool = False,
    ) -> ImportSummary:
        now = self.clock()  # one moment for every row's check, so both passes agree
        if dry_run or skip_bad:
            summary = ImportSummary(path.name, dry_run=dry_run, written=not dry_run)
            return await self._pass(
                path, sheet, now, summary, self._look if dry_run else self._write
            )
        checked = await self._pass(path, sheet, now, ImportSummary(path.name), self._none)
        if checked.rejected or checked.error:
            return checked
        summary = ImportSummary(path.name, written=True)
        return await self._pass(path, sheet, now, summary, self._write, checked.rows)

    async def _pass(
        self,
        path: Path,
        sheet: str | None,
        now: datetime,
        summary: ImportSummary,
        chunk: Chunk,
        checked: int | None = None,
    ) -> ImportSummary:
        """One read of the file; `chunk` gets its good orders CHUNK at a time.

        `checked`: the rows a first pass found, all good, that this pass writes."""
        try:
            with open_order_file(path, sheet) as opened:
                summary.ignored = opened.columns.ignored
                total = checked if checked is not None else opened.estimate
                shown = self._progress(path.name, total, "importing" if checked else "reading")
                await self._stream(opened, now, summary, chunk, shown)
        except OrderFileError as error:
            summary.error = str(error)
        except DBAPIError as error:
            summary.error = (
                f"stopped by a database error after {summary.created:,} orders were saved: "
                f"{error.orig}; run the import again to go on (saved orders are skipped)"
            )
        return summary

    async def _stream(
        self,
        opened: OrderRows,
        now: datetime,
        summary: ImportSummary,
        chunk: Chunk,
        shown: Callable[[int, bool], None],
    ) -> None:
        seen: dict[str, int] = {}
        good: list[NewOrder] = []
        for row in opened.rows:
            new = self._check(row, opened.columns, seen, now, summary)
            if new is not None:
                good.append(new)
            if len(good) == CHUNK:
                await chunk(good, summary)
                good = []
            if summary.rows % CHUNK == 0:
                shown(summary.rows, False)
        if good:
            await chunk(good, summary)
        shown(summary.rows, True)

    def _check(
        self,
        row: FileRow,
        columns: OrderColumns,
        seen: dict[str, int],
        now: datetime,
        summary: ImportSummary,
    ) -> NewOrder | None:
        summary.rows += 1
        external_id = columns.external_id(row.cells)
        first = seen.setdefault(external_id, row.line) if external_id else row.line
        if first != row.line:
            summary.reject(row.line, f"external_id: {external_id!r} repeats line {first}")
            return None
        try:
            new = columns.order(row.cells, self.zone)
            validate_order(new, now)
        except OrderRejected as error:
            summary.reject(row.line, str(error))
            return None
        return new

    @staticmethod
    async def _none(_chunk: Sequence[NewOrder], _summary: ImportSummary) -> None:
        """The checking pass of an all-or-nothing import writes nothing."""

    async def _look(self, chunk: Sequence[NewOrder], summary: ImportSummary) -> None:
        async with self.sessions() as session:
            known = await orders.known_external_ids(session, [new.external_id for new in chunk])
        summary.known += len(known)
        summary.created += len(chunk) - len(known)

    async def _write(self, chunk: Sequence[NewOrder], summary: ImportSummary) -> None:
        async with self.sessions.begin() as session:
            # Known orders are left out: a rerun does not build a receipt for each of them.
            known = await orders.known_external_ids(session, [new.external_id for new in chunk])
            fresh = [new for new in chunk if new.external_id not in known]
            now = self.clock()
            receipts = await self.journeys.register_orders(session, fresh, now) if fresh else []
            waiting = await self._waiting(session, known, now)
        created = sum(receipt.created for receipt in receipts)
        by_id = {receipt.external_id: receipt for receipt in [*receipts, *waiting]}
        self.receipts([by_id[new.external_id] for new in chunk if new.external_id in by_id])
        # Counted once committed: after a failed chunk the summary says what was saved.
        summary.created += created
        summary.known += len(chunk) - created

    async def _waiting(
        self, session: AsyncSession, known: set[str], now: datetime
    ) -> list[OrderReceipt]:
        """Receipts of the known orders still waiting for their customer, with their link."""
        if not self.known_links or not known:
            return []
        found = await orders.waiting_links(session, known, now)
        return [
            OrderReceipt(
                order_id=link.order_id,
                external_id=external_id,
                customer_ref=ref,
                created=False,
                journey=Journey.AWAITING_LINK,
                link_token=link.token,
                link_expires_at=link.expires_at,
            )
            for external_id, (ref, link) in found.items()
        ]

    def _progress(self, name: str, total: int | None, doing: str) -> Callable[[int, bool], None]:
        """Reports the rows read so far, and whether that is all of them."""
        if total is None or total < PROGRESS_FROM:
            return lambda _done, _last: None
        self.step(f"{doing} {name}")
        # An estimated total can be off (quoted line breaks, a stale XLSX dimension).
        return lambda done, last: self.rows(name, done, done if last else max(total, done))
