"""The demo's cafe as test data: 80 simulated guests, a fine interest stage, the queue at
purchase and a poor retention stage (demo/guests.py plants them). Run once per test
session."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, date, datetime
from pathlib import Path

from demo.simulation import DemoOptions, run_demo
from reports.aggregate import Period
from reports.report import Report, build_report
from storage.db import make_engine, make_session_factory
from surveys.loader import load_survey

START = datetime(2026, 10, 1, 9, tzinfo=UTC)
WHOLE_DEMO = Period(date(2026, 10, 1), date(2026, 11, 15))
GENERATED = datetime(2026, 11, 15, tzinfo=UTC)


def demo_database(out: Path) -> str:
    asyncio.run(run_demo(DemoOptions(customers=80, seed=11, out=out, start=START), io.StringIO()))
    return f"sqlite+aiosqlite:///{out / 'demo.db'}"


def demo_report(url: str, period: Period = WHOLE_DEMO, locale: str = "en") -> Report:
    async def build() -> Report:
        engine = make_engine(url)
        try:
            async with make_session_factory(engine)() as session:
                survey = load_survey("cafe")
                return await build_report(session, survey, period, GENERATED, locale=locale)
        finally:
            await engine.dispose()

    return asyncio.run(build())
