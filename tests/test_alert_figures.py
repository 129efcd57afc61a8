"""The report's "alerts answered within 24 h" on a fixture small enough to count by hand."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from reports.aggregate import Period
from reports.alerts import AlertFigures, alert_figures, alerts_line, duration_text
from reports.render_html import render_html
from reports.report import Report
from reports.summary import summary_text
from storage.db import make_engine, make_session_factory
from storage.models import Alert, Customer, CustomerStatus, Dispatch, DispatchStatus, Order

WEEK = Period.last_days(7, date(2026, 11, 22))  # 16–22 November
H = timedelta(hours=1)


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


# (survey, segment, created, first reply delivered after)
ALERTS = [
    ("cafe", "downtown", at(17, 10), 2 * H),  # in time
    ("cafe", "downtown", at(18, 9), 24 * H),  # exactly 24 h: still in time
    ("cafe", "mall", at(19, 9), 26 * H),  # answered, too late
    ("cafe", "downtown", at(20, 9), None),  # never answered: counts against the share
    ("cafe", "downtown", at(10, 9), 1 * H),  # the week before: not in this report
    ("lean", "downtown", at(18, 9), 1 * H),  # another survey
]


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    engine = make_engine(database_url)
    async with make_session_factory(engine)() as session:
        await _seed(session)
        yield session
    await engine.dispose()


async def _seed(session: AsyncSession) -> None:
    now = at(1, 0)
    customer = Customer(ref="c", status=CustomerStatus.ACTIVE, created_at=now)
    session.add(customer)
    await session.flush()
    for n, (survey, segment, created, wait) in enumerate(ALERTS):
        order = Order(
            external_id=f"o{n}", customer_id=customer.id, survey_id=survey, segment=segment,
            source="test", journey="scheduled", purchased_at=now, created_at=now,
        )  # fmt: skip
        session.add(order)
        await session.flush()
        dispatch = Dispatch(
            order_id=order.id, customer_id=customer.id, survey_id=survey, wave_id="w",
            segment=segment, status=DispatchStatus.ANSWERED, progress={}, created_at=now,
        )  # fmt: skip
        session.add(dispatch)
        await session.flush()
        session.add(
            Alert(
                dispatch_id=dispatch.id, customer_id=customer.id, survey_id=survey,
                segment=segment, stage="purchase", created_at=created,
                replied_at=created + wait if wait else None, replied_by=100 if wait else None,
            )
        )  # fmt: skip
    await session.commit()


async def test_alerts_answered_within_24_hours(session: AsyncSession) -> None:
    figures = await alert_figures(session, "cafe", WEEK)
    assert figures == AlertFigures(alerts=4, answered=3, answered_in_time=2, median_reply=24 * H)
    assert figures.in_time_share == 0.5


async def test_alerts_of_one_segment(session: AsyncSession) -> None:
    downtown = await alert_figures(session, "cafe", WEEK, "downtown")
    assert downtown == AlertFigures(alerts=3, answered=2, answered_in_time=2, median_reply=13 * H)
    assert await alert_figures(session, "cafe", WEEK, "nowhere") == AlertFigures()


def test_the_figures_in_words() -> None:
    figures = AlertFigures(alerts=4, answered=3, answered_in_time=2, median_reply=24 * H)
    assert alerts_line(figures, "en") == (
        "Unhappy customers: 4 · answered within 24 h: 2 (50%) · median first reply 1 d 0 h"
    )
    assert alerts_line(figures, "ru") == (
        "Недовольные клиенты: 4 · ответ за 24 ч: 2 (50\xa0%) · медиана до ответа 1 дн. 0 ч"
    )
    assert alerts_line(AlertFigures(), "en") is None
    assert duration_text(timedelta(minutes=125), "en") == "2 h 05 min"
    assert duration_text(timedelta(minutes=45), "ru") == "45 мин"


def test_summary_and_html_show_them(cafe_report: Report) -> None:
    figures = AlertFigures(alerts=5, answered=4, answered_in_time=4, median_reply=90 * H / 60)
    report = dataclasses.replace(cafe_report, alerts=figures)
    line = "Unhappy customers: 5 · answered within 24 h: 4 (80%) · median first reply 1 h 30 min"
    assert line in summary_text(report)
    html = render_html(report)
    assert "<b>Unhappy customers</b>5 · answered within 24 h: 4 (80%)" in html
    quiet = dataclasses.replace(cafe_report, alerts=AlertFigures())
    assert "Unhappy customers" not in summary_text(quiet)
    assert "<b>Unhappy customers</b>0" in render_html(quiet)
