"""The report as it goes to an owner in Telegram: the summary, then the files that
`CJM_REPORT_FORMATS` names — the PNG map, the HTML report, the PDF.

Building takes a few hundred milliseconds to a second: the figures are read in a session
of its own (never an update's transaction) and the drawing happens in worker threads, so
the event loop keeps serving other chats meanwhile.

The bot does not call `build_bundle` itself: it runs it in a short-lived process
(reports.worker), so numpy, scipy, matplotlib and jinja2 never stay in its memory. This
module imports them only inside `build_bundle`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reports.aggregate import Period
from reports.words import wave_names
from surveys.model import Survey


class Part(IntEnum):
    """What is sent, in this order; a delivery records how many went out."""

    SUMMARY = 0
    MAP = 1
    HTML = 2
    PDF = 3


# CJM_REPORT_FORMATS: the files an owner gets, each a part of its own.
FORMATS = {"png": Part.MAP, "html": Part.HTML, "pdf": Part.PDF}
DEFAULT_FORMATS = ("png", "html")


def parts_of(formats: Iterable[str]) -> tuple[Part, ...]:
    """The parts sent for these formats, in sending order: the summary always first."""
    return (Part.SUMMARY, *sorted({FORMATS[name] for name in formats}))


@dataclass(frozen=True, slots=True)
class ReportBundle:
    summary: str
    png: bytes
    html: bytes
    name: str  # the files' name without the extension: report-FROM-TO
    pdf: bytes | None = None  # drawn only when a PDF is to be sent
    parts: tuple[Part, ...] = (Part.SUMMARY, Part.MAP, Part.HTML)  # what is sent, in order

    @property
    def png_name(self) -> str:
        return f"{self.name}.png"

    @property
    def html_name(self) -> str:
        return f"{self.name}.html"

    @property
    def pdf_name(self) -> str:
        return f"{self.name}.pdf"


class ReportSender(Protocol):
    """bot/ sends the parts through Telegram."""

    async def send_part(self, chat_id: int, bundle: ReportBundle, part: Part) -> None:
        """Raises a `surveys.messenger.SendError` saying what Telegram's answer means."""
        ...

    async def send_text(self, chat_id: int, text: str) -> None:
        """A message of its own (the "no answers yet" note); raises as `send_part`."""
        ...


class BundleBuilder(Protocol):
    """Builds the report of a period: in this process (`build_bundle`) or in a worker."""

    async def __call__(
        self, period: Period, now: datetime, segment: str | None, locale: str | None
    ) -> ReportBundle: ...


async def build_bundle(
    sessions: async_sessionmaker[AsyncSession],
    survey: Survey,
    period: Period,
    now: datetime,
    segment: str | None = None,
    locale: str | None = None,
    formats: Iterable[str] = DEFAULT_FORMATS,
) -> ReportBundle:
    # Heavy (numpy, scipy, matplotlib, jinja2): imported only where a report is drawn.
    from reports.render_html import render_html  # noqa: PLC0415
    from reports.render_pdf import render_pdf  # noqa: PLC0415
    from reports.render_png import render_png_async  # noqa: PLC0415
    from reports.report import build_report  # noqa: PLC0415
    from reports.summary import summary_text  # noqa: PLC0415

    async with sessions() as session:
        report = await build_report(session, survey, period, now, segment, locale)
    waves = wave_names(survey, report.locale)
    png = await render_png_async(report, waves)
    html = await asyncio.to_thread(render_html, report, png, waves)
    summary = await asyncio.to_thread(summary_text, report)
    parts = parts_of(formats)
    pdf = await asyncio.to_thread(render_pdf, report, waves) if Part.PDF in parts else None
    name = f"report-{period.start}-{period.end - timedelta(days=1)}"
    return ReportBundle(summary, png, html.encode(), name, pdf, parts)
