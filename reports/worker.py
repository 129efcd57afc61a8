"""Reports drawn in a short-lived process, so the bot stays small (SPEC §4 "Reports").

Drawing a report loads numpy, scipy, matplotlib and jinja2 — about 120 MiB that Python
never gives back. The bot (the weekly report, `/report`) therefore runs
`python -m reports.worker`: the worker gets plain data on its standard input (where the
survey file is, the database URL, the period, the segment, the language), opens its own
database engine (SQLite in WAL mode lets it read while the bot writes), writes the
summary, the map, the HTML file and (when asked) the PDF into a folder the bot gave it,
and exits. The bot reads the files back and sends them.

A worker that fails, is killed (out of memory) or runs past its time is reported as a
`WorkerFailed` saying which; it never leaves the bot waiting. This module imports nothing
heavy until `main` runs in the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from reports.aggregate import Period
from reports.bundle import DEFAULT_FORMATS, ReportBundle, parts_of

log = logging.getLogger(__name__)

SUMMARY, MAP, HTML, NAME = "summary.txt", "map.png", "report.html", "name.txt"
PDF = "report.pdf"
STDERR_TAIL = 2000  # characters of the worker's error output kept for the log


class WorkerFailed(Exception):
    """The worker did not produce the report: `reason` says how, for the log."""

    def __init__(self, reason: str, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timed_out = timed_out


@dataclass
class ReportWorker:
    """A `reports.bundle.BundleBuilder` that draws each report in a new process."""

    survey_source: str  # CJM_SURVEY: a file or a bundled template's name
    survey_id: str  # the survey the bot runs: the worker refuses another
    database_url: str
    timeout: float  # seconds before the worker is killed
    formats: tuple[str, ...] = DEFAULT_FORMATS  # CJM_REPORT_FORMATS: the files sent
    command: tuple[str, ...] = field(default=(sys.executable, "-m", "reports.worker"))

    async def __call__(
        self, period: Period, now: datetime, segment: str | None, locale: str | None
    ) -> ReportBundle:
        job = {
            "survey": self.survey_source, "survey_id": self.survey_id,
            "database_url": self.database_url, "start": period.start.isoformat(),
            "end": period.end.isoformat(), "now": now.isoformat(), "segment": segment,
            "locale": locale, "formats": list(self.formats),
        }  # fmt: skip
        folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="cjm-report-"))
        try:
            job["out"] = str(folder)
            await self._run(json.dumps(job).encode())
            return await asyncio.to_thread(_read_bundle, folder, self.formats)
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)

    async def _run(self, job: bytes) -> None:
        process = await asyncio.create_subprocess_exec(
            *self.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, errors = await asyncio.wait_for(process.communicate(job), self.timeout)
        except TimeoutError:
            raise WorkerFailed(
                f"the report worker ran longer than {self.timeout:g} s and was stopped",
                timed_out=True,
            ) from None
        finally:
            if process.returncode is None:  # timed out, or the bot is shutting down
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(process.wait())
        if process.returncode != 0:
            raise WorkerFailed(_failure(process.returncode, errors.decode(errors="replace")))


def _failure(code: int | None, errors: str) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        how = f"was killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
    else:
        how = f"exited with code {code}"
    tail = errors.strip()[-STDERR_TAIL:]
    return f"the report worker {how}" + (f": {tail}" if tail else "")


def _read_bundle(folder: Path, formats: tuple[str, ...]) -> ReportBundle:
    try:
        return ReportBundle(
            summary=(folder / SUMMARY).read_text(encoding="utf-8"),
            png=(folder / MAP).read_bytes(),
            html=(folder / HTML).read_bytes(),
            name=(folder / NAME).read_text(encoding="utf-8"),
            pdf=(folder / PDF).read_bytes() if "pdf" in formats else None,
            parts=parts_of(formats),
        )
    except OSError as error:
        raise WorkerFailed(f"the report worker left no report: {error}") from error


# -- in the worker process ------------------------------------------------------------
async def _draw(job: dict[str, Any]) -> None:
    from reports.bundle import build_bundle  # noqa: PLC0415  (the heavy part)
    from storage.db import make_engine, make_session_factory  # noqa: PLC0415
    from surveys.loader import load_survey  # noqa: PLC0415

    # What was just imported (numpy, scipy, SQLAlchemy, the morphology: ~170,000 objects)
    # lives as long as the process: kept out of the collector's full passes, which a
    # report's allocations trigger and which took 65-145 ms each scanning them.
    gc.freeze()
    survey = load_survey(job["survey"])
    if survey.id != job["survey_id"]:
        raise SystemExit(
            f"the survey file {job['survey']!r} now holds survey {survey.id!r}, not "
            f"{job['survey_id']!r} that the bot runs: restart the bot"
        )
    period = Period(date.fromisoformat(job["start"]), date.fromisoformat(job["end"]))
    engine = make_engine(job["database_url"])
    try:
        sessions = make_session_factory(engine)
        now = datetime.fromisoformat(job["now"])
        formats = job.get("formats", DEFAULT_FORMATS)
        bundle = await build_bundle(
            sessions, survey, period, now, job["segment"], job["locale"], formats
        )
    finally:
        await engine.dispose()
    out = Path(job["out"])
    (out / MAP).write_bytes(bundle.png)
    (out / HTML).write_bytes(bundle.html)
    (out / SUMMARY).write_text(bundle.summary, encoding="utf-8")
    if bundle.pdf is not None:
        (out / PDF).write_bytes(bundle.pdf)
    (out / NAME).write_text(bundle.name, encoding="utf-8")  # last: the report is complete


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(_draw(json.loads(sys.stdin.buffer.read())))


if __name__ == "__main__":
    main()
