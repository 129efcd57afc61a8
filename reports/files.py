"""The report as files in a folder: map.png, report.html, report.pdf, map.csv, answers.csv,
report.xlsx.

The answers are streamed from the database into their files (memory does not grow with
them); these small buffered writes happen on the caller's loop, which is fine for `cjm
report` — a bot command sending these files should run this in a worker process or
thread.

Progress comes back two ways: `progress` names each step, and `rows` counts the answers
written into answers.csv and report.xlsx against their total, counted before they start."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reports.aggregate import Period
from reports.export import BOM, answers_csv, count_answers, map_csv, report_xlsx
from reports.render_html import render_html
from reports.render_pdf import render_pdf
from reports.render_png import render_png_async
from reports.report import build_report
from reports.summary import summary_text
from reports.words import wave_names
from surveys.model import Survey

Progress = Callable[[str], None]
RowsProgress = Callable[[str, int, int], None]  # file name, answers written, total


def _no_rows(_name: str, _done: int, _total: int) -> None:
    """No progress of the rows is wanted."""


async def write_report_files(
    sessions: async_sessionmaker[AsyncSession],
    survey: Survey,
    period: Period,
    out: Path,
    now: datetime,
    segment: str | None = None,
    locale: str | None = None,
    progress: Progress = lambda _: None,
    rows: RowsProgress = _no_rows,
    summary: bool = False,
) -> list[Path]:
    """The map (PNG), the HTML and PDF reports, the map's CSV, the answers' CSV and the XLSX in
    `out`; with `summary`, first the Telegram summary as summary.txt."""
    # File I/O in a worker thread: the bot's loop may call this too (/report).
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    progress("adding up the answers")
    async with sessions() as session:
        report = await build_report(session, survey, period, now, segment, locale)
    progress("drawing the map")
    waves = wave_names(survey, report.locale)
    png = await render_png_async(report, waves)
    html = await asyncio.to_thread(render_html, report, png, waves)
    pdf = await asyncio.to_thread(render_pdf, report, waves)
    files = {
        **({"summary.txt": summary_text(report).encode()} if summary else {}),
        "map.png": png,
        "report.html": html.encode(),
        "report.pdf": pdf,
        "map.csv": (BOM + map_csv(report)).encode(),
    }
    for name, content in files.items():
        await asyncio.to_thread((out / name).write_bytes, content)
    progress("exporting the answers")
    async with sessions() as session:
        total = await count_answers(session, survey.id, period, segment)

        def counting(name: str) -> Callable[[int], None]:
            rows(name, 0, total)
            return lambda done: rows(name, done, total)

        with (out / "answers.csv").open("w", encoding="utf-8", newline="") as answers:
            answers.write(BOM)  # Excel reads the file as UTF-8 only with it
            csv_rows = counting("answers.csv")
            count = await answers_csv(session, survey.id, period, segment, answers, csv_rows)
        xlsx_rows = counting("report.xlsx")
        await report_xlsx(session, report, out / "report.xlsx", xlsx_rows, survey)
    progress(f"{count} answers exported")
    return [out / name for name in (*files, "answers.csv", "report.xlsx")]
