"""The weekly level of the rollup (reports.week_rollup): a week is the sum of its seven
days, built once they all are; a day rebuilt or gone stale takes its week out of the
reports until the week is rebuilt. SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import date

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reports.aggregate import Period, aggregate, compare
from reports.cells import SUM_FIELDS
from reports.customers import customer_cells
from reports.rollups import build_day, refresh
from reports.week_rollup import whole_weeks
from storage.db import make_engine, make_session_factory
from storage.models import (
    Answer,
    AnswerRollup,
    AnswerRollupWeek,
    AnswerRollupWeekAll,
    CustomerRollup,
    CustomerRollupWeek,
    RollupDay,
    RollupWeek,
)
from tests.test_aggregate import PERIOD, populate
from tests.test_rollups import late_answer, utc

Sessions = async_sessionmaker[AsyncSession]
WEEK = date(2026, 11, 9)  # Monday: PERIOD is this ISO week
TWO_WEEKS = Period(date(2026, 11, 2), date(2026, 11, 16))
SUMS = ("rows", *SUM_FIELDS)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    """The aggregate tests' answers plus one on the 9th, the only day of the week 9–15
    November without one: every day of that week has answers."""
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    async with factory.begin() as session:
        await populate(session)
    await late_answer(factory, 9, rating=2)
    yield factory
    await engine.dispose()


async def built_weeks(sessions: Sessions) -> list[date]:
    async with sessions() as session:
        return list(await session.scalars(select(RollupWeek.week).order_by(RollupWeek.week)))


async def week_sums(sessions: Sessions) -> Counter[tuple[object, ...]]:
    """(week's Monday, stage, touchpoint, emotion, segment, column) → sum, as stored."""
    result: Counter[tuple[object, ...]] = Counter()
    async with sessions() as session:
        for row in await session.scalars(select(AnswerRollupWeek)):
            key = (row.week, row.stage, row.touchpoint, row.emotion, row.segment)
            for name in SUMS:
                result[(*key, name)] += getattr(row, name)
    return +result  # zero sums dropped: compared with the days' below


async def all_week_sums(sessions: Sessions) -> Counter[tuple[object, ...]]:
    """(week's Monday, stage, touchpoint, emotion, column) → sum, as stored over all
    segments."""
    result: Counter[tuple[object, ...]] = Counter()
    async with sessions() as session:
        for row in await session.scalars(select(AnswerRollupWeekAll)):
            key = (row.week, row.stage, row.touchpoint, row.emotion)
            for name in SUMS:
                result[(*key, name)] += getattr(row, name)
    return +result


def without_segments(sums: Counter[tuple[object, ...]]) -> Counter[tuple[object, ...]]:
    result: Counter[tuple[object, ...]] = Counter()
    for (*key, _, name), value in sums.items():  # the segment is before the column
        result[(*key, name)] += value
    return +result


async def day_sums(sessions: Sessions, week: date) -> Counter[tuple[object, ...]]:
    """The same, summed from the daily rows of `week`."""
    result: Counter[tuple[object, ...]] = Counter()
    async with sessions() as session:
        rows = await session.scalars(
            select(AnswerRollup).where(
                AnswerRollup.survey_id == "cafe",
                AnswerRollup.day >= week,
                AnswerRollup.day < date(2026, 11, 16),
            )
        )
        for row in rows:
            key = (week, row.stage, row.touchpoint, row.emotion, row.segment)
            for name in SUMS:
                result[(*key, name)] += getattr(row, name)
    return +result


def test_only_weeks_with_all_seven_days_are_whole() -> None:
    days = [date(2026, 11, d) for d in range(8, 16)]  # Sunday 8th, then Monday 9th–15th
    assert whole_weeks(days) == [WEEK]
    assert whole_weeks(days[:-1]) == []


async def test_a_week_equals_its_seven_days(sessions: Sessions) -> None:
    async with sessions() as session:
        live = await compare(session, "cafe", PERIOD)
        live_two = await aggregate(session, "cafe", TWO_WEEKS)
        live_vip = await aggregate(session, "cafe", PERIOD, "vip")

    await refresh(sessions, ["cafe", "shop"], utc(17, 2))

    # The week of the 2nd has answers on the 3rd and 8th only: not whole, not built.
    assert await built_weeks(sessions) == [WEEK]
    stored = await week_sums(sessions)
    assert stored and stored == await day_sums(sessions, WEEK)
    # Its sums over all segments are the days' too (a report of every segment reads them).
    assert await all_week_sums(sessions) == without_segments(stored)
    # The shop survey's answers are not in the cafe's week.
    assert {key[1] for key in stored} == {"visit", "delivery"}
    async with sessions.begin() as session:  # every figure from the rollups from now on
        await session.execute(delete(Answer).where(Answer.survey_id == "cafe"))
        await session.execute(delete(AnswerRollup).where(AnswerRollup.day >= WEEK))
    async with sessions() as session:
        # The week's days are read from the weekly level: their daily rows are gone.
        assert await compare(session, "cafe", PERIOD) == live
        assert await aggregate(session, "cafe", TWO_WEEKS) == live_two
        assert await aggregate(session, "cafe", PERIOD, "vip") == live_vip


async def test_a_rebuilt_day_rebuilds_its_week(sessions: Sessions) -> None:
    await refresh(sessions, ["cafe"], utc(17, 2))
    await late_answer(sessions, 12, rating=1)

    await refresh(sessions, ["cafe"], utc(17, 3))

    assert await built_weeks(sessions) == [WEEK]
    assert await week_sums(sessions) == await day_sums(sessions, WEEK)
    assert await all_week_sums(sessions) == without_segments(await day_sums(sessions, WEEK))
    async with sessions() as session:
        counter = (await aggregate(session, "cafe", PERIOD)).touchpoints["visit", "counter"]
    # ★5, ★4, ★2 of the fixture, the 9th's ★2 and the late ★1.
    assert (counter.ratings, counter.rating_sum) == (5, 14)


async def test_building_a_day_takes_its_week_out(sessions: Sessions) -> None:
    await refresh(sessions, ["cafe"], utc(17, 2))
    async with sessions.begin() as session:
        await build_day(session, "cafe", date(2026, 11, 11), utc(17, 3), 0)
    assert await built_weeks(sessions) == []
    async with sessions() as session:
        assert (await session.scalars(select(AnswerRollupWeek))).first() is None
        assert (await session.scalars(select(AnswerRollupWeekAll))).first() is None


async def test_a_stale_day_is_read_live_not_from_its_week(sessions: Sessions) -> None:
    """A day marked stale that the refresh cannot rebuild yet (its clock says the day is
    not closed): the week goes with it, the day is read from the answers."""
    await refresh(sessions, ["cafe"], utc(17, 2))
    await late_answer(sessions, 15, rating=1)

    done = await refresh(sessions, ["cafe"], utc(15, 12))

    assert done["cafe"].stale == [date(2026, 11, 15)] and done["cafe"].built == []
    assert await built_weeks(sessions) == []
    async with sessions() as session:
        counter = (await aggregate(session, "cafe", PERIOD)).touchpoints["visit", "counter"]
    assert (counter.ratings, counter.rating_sum) == (5, 14)  # with the late ★1


async def test_a_week_whose_days_were_unbuilt_behind_its_back_is_not_read(
    sessions: Sessions,
) -> None:
    """A migration may mark every day stale (UPDATE rollup_days SET built_at = NULL)
    without knowing of the weeks: a week is read only while its seven days are built."""
    await refresh(sessions, ["cafe"], utc(17, 2))
    async with sessions.begin() as session:
        await session.execute(update(RollupDay).values(built_at=None))
    await late_answer(sessions, 13, rating=5)
    async with sessions() as session:
        courier = (await aggregate(session, "cafe", PERIOD)).stages["visit"]
    # The fixture's visit ratings in the week: ★5, ★4, ★2, ★1 (14th), the 9th's ★2, + ★5.
    assert (courier.ratings, courier.rating_sum) == (6, 19)

    await refresh(sessions, ["cafe"], utc(17, 3))  # rebuilds the days, then the week
    assert await built_weeks(sessions) == [WEEK]
    assert await week_sums(sessions) == await day_sums(sessions, WEEK)


async def test_the_customer_sums_of_a_week_are_read_from_the_weekly_level(
    sessions: Sessions,
) -> None:
    async with sessions() as session:
        live = await customer_cells(session, "cafe", PERIOD.start, PERIOD.end)
        live_vip = await customer_cells(session, "cafe", PERIOD.start, PERIOD.end, "vip")
    assert live.stages["visit"].customers > 0

    await refresh(sessions, ["cafe"], utc(17, 2))

    async with sessions() as session:
        stored = (await session.scalars(select(CustomerRollupWeek))).all()
    assert {row.week for row in stored} == {WEEK}
    assert sum(row.customers for row in stored if row.touchpoint == "") == sum(
        figures.customers for figures in live.stages.values()
    )
    async with sessions.begin() as session:  # from the weekly level alone from now on
        await session.execute(delete(Answer).where(Answer.survey_id == "cafe"))
        await session.execute(delete(CustomerRollup))
    async with sessions() as session:
        assert await customer_cells(session, "cafe", PERIOD.start, PERIOD.end) == live
        assert await customer_cells(session, "cafe", PERIOD.start, PERIOD.end, "vip") == live_vip


async def test_a_stale_day_takes_the_customer_week_out(sessions: Sessions) -> None:
    await refresh(sessions, ["cafe"], utc(17, 2))
    await late_answer(sessions, 15, rating=1)

    await refresh(sessions, ["cafe"], utc(15, 12))  # marks the 15th stale, cannot build it

    async with sessions() as session:
        assert (await session.scalars(select(CustomerRollupWeek))).first() is None
        cells = await customer_cells(session, "cafe", PERIOD.start, PERIOD.end)
    async with sessions.begin() as session:
        await session.execute(delete(CustomerRollup))
        await session.execute(update(RollupDay).values(built_at=None))
    async with sessions() as session:  # all live: the same, with the late ★1
        assert await customer_cells(session, "cafe", PERIOD.start, PERIOD.end) == cells
