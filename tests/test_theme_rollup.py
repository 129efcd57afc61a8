"""The theme counts' daily rollup (reports.theme_rollup): the voice lanes of a report read
from it are those computed from the comments, figure for figure and quote for quote —
with a customer naming the queue on two days of the period, late answers onto built
days (a new comment of the same journey, a low rating that turns a suggestion into a
complaint), a /forget, and a change of the survey's themes. SQLite and PostgreSQL.

The data are tests/test_voices.py's (period 2026-11-09..16, four weeks of baseline), and:

  journey  stage     answers
  20       purchase  ★2, "Очередь огромная" on the 10th; "опять очередь, ужас" on the 12th
  21       loyalty   NPS 9, "Поставьте вторую кассу для очереди" (a suggestion, not asked)
  22       purchase  ★1, "Бариста нахамил, очередь" (customer 2, who will /forget)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reports import theme_rollup
from reports import themes as report_themes
from reports.aggregate import Period
from reports.rollups import refresh_survey
from reports.theme_counts import count_themes
from reports.theme_rollup import PAIN, live_ranges, period_themes
from reports.themes import Voices, build_voices, stage_counts
from storage import answers
from storage.db import make_engine, make_session_factory
from storage.models import (
    Answer,
    CommentReading,
    Customer,
    Order,
    ThemeDay,
    ThemeRollup,
    ThemeSpread,
)
from surveys.loader import load_survey
from surveys.model import Survey
from surveys.privacy import forget
from surveys.readings import fingerprint
from tests.test_voices import ANSWERS, PERIOD, at, populate, visit

Sessions = async_sessionmaker[AsyncSession]
NOW = datetime(2026, 11, 17, 12, tzinfo=UTC)  # every day of the period is closed
CAFE = load_survey("cafe")

EXTRA: list[tuple[int, str, str, str | None, str, datetime, dict[str, Any]]] = [
    *visit(20, 2, "Очередь огромная", at(11, 10)),
    (20, "visit_more", "purchase", None, "text", at(11, 12), {"comment": "опять очередь, ужас"}),
    (21, "nps", "loyalty", "recommendation", "nps", at(11, 11), {"nps": 9}),
    (21, "loyalty_note", "loyalty", "recommendation", "text", at(11, 11),
     {"comment": "Поставьте вторую кассу для очереди"}),
    *visit(22, 1, "Бариста нахамил, очередь", at(11, 13)),
]  # fmt: skip


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    async with factory.begin() as session:
        await populate(session, [*ANSWERS, *EXTRA])
        await session.execute(
            insert(Customer).values(id=2, ref="c2", status="active", created_at=at(10, 1))
        )
        await session.execute(update(Order).where(Order.id == 22).values(customer_id=2))
        await session.execute(update(Answer).where(Answer.order_id == 22).values(customer_id=2))
        await session.execute(update(Customer).where(Customer.id == 2).values(tg_user_id=2002))
    yield factory
    await engine.dispose()


async def nothing_built(*_: object) -> list[date]:
    return []


async def report(
    sessions: Sessions, survey: Survey = CAFE, segment: str | None = None
) -> tuple[Voices, Voices]:
    """The voice lanes as the report reads them (rollup and live days), and computed
    from the comments alone; the latter's counts checked against the SQL count. The
    live days are counted both ways: their comments in hand, and in the database with
    the spread journeys taken out (as a long live stretch is)."""
    async with sessions() as session:
        rolled = await build_voices(session, survey, PERIOD, segment, locale="en")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(theme_rollup, "LIVE_DAYS", 0)
        async with sessions() as session:
            counted = await build_voices(session, survey, PERIOD, segment, locale="en")
    assert counted == rolled
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report_themes, "built_days", nothing_built)
        async with sessions() as session:
            live = await build_voices(session, survey, PERIOD, segment, locale="en")
    version = fingerprint(survey.themes)
    themes = [t.id for t in survey.themes]
    for period in (PERIOD, Period(date(2026, 10, 12), date(2026, 11, 9))):
        async with sessions() as session:
            found = await period_themes(session, survey, period.bounds(), segment, version, [])
            counted = await count_themes(session, survey, period.bounds(), segment, version)
        assert stage_counts(found.customers, themes) == counted
    return rolled, live


async def theme_days(sessions: Sessions, survey: Survey = CAFE) -> set[date]:
    async with sessions() as session:
        rows = await session.scalars(
            select(ThemeDay.day).where(
                ThemeDay.built_at.is_not(None), ThemeDay.version == fingerprint(survey.themes)
            )
        )
        return set(rows)


def queue(voices: Voices, stage: str = "purchase", role: str = PAIN) -> int:
    lane = voices.of(stage).pain if role == PAIN else voices.of(stage).suggestions
    return next((f.customers for f in lane if f.id == "queue"), 0)


async def test_a_report_from_the_rollup_is_the_report_from_the_comments(
    sessions: Sessions,
) -> None:
    before, _ = await report(sessions)  # reads (and keeps) every comment's reading
    await refresh_survey(sessions, CAFE, NOW)
    days = await theme_days(sessions)
    assert date(2026, 11, 10) in days and date(2026, 10, 20) in days
    assert max(days) == date(2026, 11, 15)  # the last day with answers

    rolled, live = await report(sessions)
    assert rolled == live == before
    # Journey 20 names the queue on the 10th and the 12th: once in the period.
    assert queue(rolled) == 5  # journeys 1, 2, 3, 20, 22
    async with sessions() as session:
        spread = set(await session.scalars(select(ThemeSpread.order_id).distinct()))
        quotes = await session.scalar(
            select(func.count()).select_from(ThemeRollup).where(ThemeRollup.quotes != "")
        )
    assert spread == {20}
    assert quotes
    assert rolled.of("purchase").pain[0].quotes  # read back from the rollup's candidates

    # A segment of the report: nobody in it.
    rolled, live = await report(sessions, segment="vip")
    assert rolled == live


async def test_late_answers_onto_built_days_are_counted_once(sessions: Sessions) -> None:
    await report(sessions)
    await refresh_survey(sessions, CAFE, NOW)
    first, _ = await report(sessions)
    async with sessions.begin() as session:
        # Journey 1 (counted on the 10th alone) names the queue again on the 14th, and
        # journey 21's wave gets a low rating: its suggestion is now a complaint.
        await answers.insert(session, {
            "dispatch_id": 1, "order_id": 1, "customer_id": 1, "survey_id": "cafe",
            "wave_id": "after_purchase", "question_id": "visit_more", "stage": "purchase",
            "kind": "text", "answered_at": at(11, 14), "comment": "и снова очередь",
        })  # fmt: skip
        await answers.insert(session, {
            "dispatch_id": 21, "order_id": 21, "customer_id": 1, "survey_id": "cafe",
            "wave_id": "after_purchase", "question_id": "late_rating", "stage": "loyalty",
            "kind": "rating", "answered_at": at(11, 15), "rating": 1,
        })  # fmt: skip
    later = NOW + timedelta(minutes=15)
    await refresh_survey(sessions, CAFE, later)
    built = await theme_days(sessions)
    assert date(2026, 11, 14) not in built  # its new comment is not read yet
    assert {date(2026, 11, 10), date(2026, 11, 11), date(2026, 11, 15)} <= built  # rebuilt

    rolled, live = await report(sessions)  # reads it
    assert rolled == live
    assert queue(rolled) == queue(first) == 5  # journey 1 once
    assert queue(rolled, "loyalty") == queue(first, "loyalty") + 1
    await refresh_survey(sessions, CAFE, later + timedelta(minutes=15))
    assert date(2026, 11, 14) in await theme_days(sessions)
    rolled, live = await report(sessions)
    assert rolled == live
    async with sessions() as session:
        spread = set(await session.scalars(select(ThemeSpread.order_id).distinct()))
    assert spread == {1, 20}


async def test_a_forgotten_customers_comments_leave_the_counts_at_once(
    sessions: Sessions,
) -> None:
    await report(sessions)
    await refresh_survey(sessions, CAFE, NOW)
    first, _ = await report(sessions)
    async with sessions.begin() as session:
        assert await forget(session, 2002, NOW)

    rolled, live = await report(sessions)  # before any refresh
    assert rolled == live
    assert queue(rolled) == queue(first) - 1
    assert "Бариста нахамил, очередь" not in str(rolled)
    async with sessions() as session:
        kept = await session.scalar(
            select(func.count())
            .select_from(CommentReading)
            .join(Answer, Answer.id == CommentReading.answer_id)
            .where(Answer.order_id == 22)
        )
    assert kept == 0  # what was read from their words is gone too
    await refresh_survey(sessions, CAFE, NOW + timedelta(minutes=15))
    assert date(2026, 11, 13) in await theme_days(sessions)
    assert await report(sessions) == (rolled, live)


async def test_a_change_of_themes_never_reads_counts_of_the_old_ones(
    sessions: Sessions,
) -> None:
    await report(sessions)
    await refresh_survey(sessions, CAFE, NOW)
    queue_theme = next(t for t in CAFE.themes if t.id == "queue")
    grinder = queue_theme.model_copy(
        update={"id": "grinder", "words": {"ru": ["кофемолка"], "en": ["grinder"]}}
    )
    changed = CAFE.model_copy(update={"themes": (*CAFE.themes, grinder)})
    assert not await theme_days(sessions, changed)

    rolled, live = await report(sessions, changed)
    assert rolled == live
    assert [(f.id, f.customers) for f in rolled.of("purchase").pain][:2] == [
        ("queue", 5), ("grinder", 2),
    ]  # fmt: skip
    await refresh_survey(sessions, changed, NOW + timedelta(minutes=15))
    assert date(2026, 11, 13) in await theme_days(sessions, changed)
    assert await report(sessions, changed) == (rolled, live)
    # Back to the old themes: their rows are gone, their days read live again.
    assert not await theme_days(sessions)
    rolled, live = await report(sessions)
    assert rolled == live
    assert not any(f.id == "grinder" for f in rolled.of("purchase").pain)


def test_live_ranges_are_the_days_not_rolled_up() -> None:
    built = [date(2026, 11, 10), date(2026, 11, 11), date(2026, 11, 13)]
    assert live_ranges(date(2026, 11, 9), date(2026, 11, 15), built) == [
        (at(11, 9) - timedelta(hours=12), at(11, 10) - timedelta(hours=12)),
        (at(11, 12) - timedelta(hours=12), at(11, 13) - timedelta(hours=12)),
        (at(11, 14) - timedelta(hours=12), at(11, 15) - timedelta(hours=12)),
    ]
