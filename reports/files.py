"""The report as files in a folder: map.png, report.html, map.csv, answers.csv, report.xlsx."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reports.aggregate import Period
from reports.render_png import render_png_async
from reports.report import build_report
from surveys.model import Survey

Progress = Callable[[str], None]


async def write_report_files(
    sessions: async_sessionmaker[AsyncSession],
    survey: Survey,
    period: Period,
    out: Path,
    now: datetime,
    segment: str | None = None,
    locale: str | None = None,
    progress: Progress = lambda _: None,
) -> list[Path]:
    # File I/O in a worker thread: the bot's loop may call this too (/report).
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    progress("adding up the answers")
    async with sessions() as session:
        report = await build_report(session, survey, period, now, segment, locale)
    progress("drawing the map")
    png = await render_png_async(report)
    written = [out / "map.png"]
    await asyncio.to_thread(written[0].write_bytes, png)
    return written
