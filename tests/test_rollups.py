"""The daily rollup (reports.rollups): a report read from it is the report read from the
answers, figure for figure; days are built only once closed; answers landing on a built
day make it stale and the next refresh rebuilds it. SQLite and PostgreSQL."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reports.aggregate import Period, aggregate, compare, top_comments
from reports.cells import SUM_FIELDS
from reports.days import closed_before, gaps, in_ids, runs
from reports.priorities import journey_scores
from reports.rollups import refresh
from storage import answers
from storage.db import make_engine, make_session_factory
from storage.models import Answer, AnswerRollup, AnswerRollupAll, RollupDay
from tests.test_aggregate import PERIOD, populate

Sessions = async_sessionmaker[AsyncSession]
D = date


def utc(day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    async with factory.begin() as session:
        await populate(session)
    yield factory
    await engine.dispose()


async def built(sessions: Sessions) -> dict[date, int]:
    async with sessions() as session:
        rows = await session.execute(
            select(RollupDay.day, RollupDay.answers).where(
                RollupDay.survey_id == "cafe", RollupDay.built_at.is_not(None)
            )
        )
        return {row[0]: row[1] for row in rows}


async def late_answer(sessions: Sessions, day: int, rating: int) -> None:
    """An answer stamped on an old day (as an import would), committed now."""
    async with sessions.begin() as session:
        stored = await answers.insert(session, {
            "dispatch_id": 13, "order_id": 13, "customer_id": 1, "survey_id": "cafe",
            "wave_id": "after_visit", "question_id": f"late_{day}", "stage": "visit",
            "touchpoint": "counter", "kind": "rating", "segment": "a",
            "answered_at": utc(day, 12), "rating": rating,
        })  # fmt: skip
        assert stored


def test_runs_and_gaps() -> None:
    days = [D(2026, 11, 3), D(2026, 11, 1), D(2026, 11, 2), D(2026, 11, 6)]
    assert runs(days) == [(D(2026, 11, 1), D(2026, 11, 4)), (D(2026, 11, 6), D(2026, 11, 7))]
    assert gaps(D(2026, 10, 30), D(2026, 11, 9), sorted(days)) == [
        (D(2026, 10, 30), D(2026, 11, 1)),
        (D(2026, 11, 4), D(2026, 11, 6)),
        (D(2026, 11, 7), D(2026, 11, 9)),
    ]
    assert gaps(D(2026, 11, 1), D(2026, 11, 4), [D(2026, 11, 1)]) == [
        (D(2026, 11, 2), D(2026, 11, 4))
    ]
    assert gaps(D(2026, 11, 1), D(2026, 11, 2), [D(2026, 11, 1)]) == []


async def test_ids_written_into_the_sql_select_those_answers(sessions: Sessions) -> None:
    async with sessions() as session:
        every = list(await session.scalars(select(Answer.id).order_by(Answer.id)))
        some = every[1::2]
        chosen = await session.scalars(
            select(Answer.id).where(in_ids(Answer.id, some)).order_by(Answer.id)
        )
        assert list(chosen) == some
        assert list(await session.scalars(select(Answer.id).where(in_ids(Answer.id, [])))) == []
    with pytest.raises(ValueError, match="invalid literal"):
        in_ids(Answer.id, ["1); DROP TABLE answers; --"])  # type: ignore[list-item]


def test_a_day_closes_an_hour_after_midnight() -> None:
    assert closed_before(utc(17, 0, 59)) == D(2026, 11, 16)  # the 16th still open
    assert closed_before(utc(17, 1, 0)) == D(2026, 11, 17)  # the 16th closed


async def test_rollup_gives_the_same_figures_as_the_answers(sessions: Sessions) -> None:
    async with sessions() as session:
        live = await compare(session, "cafe", PERIOD)
        live_vip = await aggregate(session, "cafe", PERIOD, "vip")
        live_shop = await aggregate(session, "shop", PERIOD)

    done = await refresh(sessions, ["cafe", "shop"], utc(17, 2))

    # Answer days of the fixture (UTC): cafe 3, 8 (00:30+03:00 on the 9th), 10-16;
    # the 16th closed at 01:00 on the 17th. The shop survey has the 10th only.
    expected = [D(2026, 11, 3), D(2026, 11, 8), *(D(2026, 11, day) for day in range(10, 17))]
    assert done["cafe"].built == expected
    assert done["shop"].built == [D(2026, 11, 10)]
    # 28 answers in the fixture, 2 of them the shop's.
    assert sum((await built(sessions)).values()) == 26
    async with sessions() as session:
        assert await compare(session, "cafe", PERIOD) == live
        assert await aggregate(session, "cafe", PERIOD, "vip") == live_vip
        assert await aggregate(session, "shop", PERIOD) == live_shop
        # One row per (survey, day, stage, touchpoint, emotion, segment): the 10th 3 + the
        # shop's 2, the 11th 3, 12th 4, 13th 2 (NPS and comment share a cell), 14th 5,
        # 15th 2, 16th 1, 8th 1, 3rd 2.
        assert await session.scalar(select(func.count()).select_from(AnswerRollup)) == 25
        # The days' sums over all segments (reports of every segment read them) are the
        # segment rows' sums.
        assert await all_segments(session) == await summed_segments(session)
    # Every figure comes from the rollup now: without the answers they stay the same.
    async with sessions.begin() as session:
        await session.execute(delete(Answer).where(Answer.survey_id == "cafe"))
    async with sessions() as session:
        assert await compare(session, "cafe", PERIOD) == live

    # Nothing new: a second refresh builds nothing.
    again = await refresh(sessions, ["cafe"], utc(17, 3))
    assert again["cafe"].built == [] and again["cafe"].stale == []


async def all_segments(session: AsyncSession) -> dict[tuple[object, ...], list[int]]:
    rows = await session.scalars(select(AnswerRollupAll))
    return {
        (r.survey_id, r.day, r.stage, r.touchpoint, r.emotion): [
            getattr(r, name) for name in ("rows", *SUM_FIELDS)
        ]
        for r in rows
    }


async def summed_segments(session: AsyncSession) -> dict[tuple[object, ...], list[int]]:
    result: dict[tuple[object, ...], list[int]] = {}
    for r in await session.scalars(select(AnswerRollup)):
        key = (r.survey_id, r.day, r.stage, r.touchpoint, r.emotion)
        sums = result.setdefault(key, [0] * (1 + len(SUM_FIELDS)))
        for i, name in enumerate(("rows", *SUM_FIELDS)):
            sums[i] += getattr(r, name)
    return result


async def test_a_rebuilt_day_replaces_its_sums_over_all_segments(sessions: Sessions) -> None:
    await refresh(sessions, ["cafe"], utc(17, 2))
    await late_answer(sessions, 12, rating=1)
    await refresh(sessions, ["cafe"], utc(17, 3))
    async with sessions() as session:
        stored = await all_segments(session)
        assert stored and stored == await summed_segments(session)
        live = await aggregate(session, "cafe", PERIOD)
    async with sessions.begin() as session:  # every figure from the rollups from now on
        await session.execute(delete(Answer).where(Answer.survey_id == "cafe"))
        await session.execute(delete(AnswerRollup))
    async with sessions() as session:
        assert await aggregate(session, "cafe", PERIOD) == live


async def test_open_days_are_read_from_the_answers(sessions: Sessions) -> None:
    # At 00:30 on the 16th, the 15th is in its grace hour and the 16th has begun.
    done = await refresh(sessions, ["cafe"], utc(16, 0, 30))
    assert done["cafe"].built[-1] == D(2026, 11, 14)
    async with sessions() as session:
        mixed = await aggregate(session, "cafe", PERIOD)
    assert mixed.stages["delivery"].ratings == 3  # ★1 on the 13th, ★4 on the 14th, ★5 the 15th
    assert mixed.stages["delivery"].rating_sum == 10

    done = await refresh(sessions, ["cafe"], utc(16, 1, 30))
    assert done["cafe"].built == [D(2026, 11, 15)]


async def test_a_late_answer_makes_its_day_stale_until_rebuilt(sessions: Sessions) -> None:
    await refresh(sessions, ["cafe"], utc(17, 2))
    before = (await built(sessions))[D(2026, 11, 12)]

    await late_answer(sessions, 12, rating=1)  # on a built day
    await late_answer(sessions, 9, rating=5)  # on a day no answer had: never built

    done = await refresh(sessions, ["cafe"], utc(17, 3))
    assert sorted(done["cafe"].stale) == [D(2026, 11, 9), D(2026, 11, 12)]
    assert done["cafe"].built == [D(2026, 11, 9), D(2026, 11, 12)]
    days = await built(sessions)
    assert days[D(2026, 11, 12)] == before + 1
    assert days[D(2026, 11, 9)] == 1
    async with sessions() as session:
        counter = (await aggregate(session, "cafe", PERIOD)).touchpoints["visit", "counter"]
    # The fixture's counter ratings ★5, ★4, ★2 plus the late ★1 and ★5.
    assert (counter.ratings, counter.rating_sum) == (5, 17)


async def test_stale_day_is_read_from_the_answers(sessions: Sessions) -> None:
    """A stale day that cannot be rebuilt yet (not closed by the refresh's clock) is
    read from the answers, with the late answer."""
    await refresh(sessions, ["cafe"], utc(17, 2))
    await late_answer(sessions, 12, rating=1)
    async with sessions.begin() as session:
        await session.execute(
            RollupDay.__table__.update()  # type: ignore[attr-defined]
            .where(RollupDay.day == D(2026, 11, 12))
            .values(built_at=None)
        )
    async with sessions() as session:
        counter = (await aggregate(session, "cafe", PERIOD)).touchpoints["visit", "counter"]
    assert (counter.ratings, counter.rating_sum) == (4, 12)


async def test_segment_and_previous_period_from_the_rollup(sessions: Sessions) -> None:
    await refresh(sessions, ["cafe"], utc(17, 2))
    async with sessions() as session:
        vip = await aggregate(session, "cafe", PERIOD, "vip")
        previous = await aggregate(session, "cafe", PERIOD.previous())
        nothing = await aggregate(session, "cafe", Period(D(2026, 10, 1), D(2026, 10, 8)))
    # vip in the period: dispatch 3 (counter ★2, anger, comment, table choice) and
    # dispatch 5 (courier ★4, NPS 9).
    assert vip.touchpoints["visit", "counter"].rating_sum == 2
    assert vip.touchpoints["visit", "counter"].emotions == {"anger": 1}
    assert vip.stages["visit"].comments == 1
    assert vip.stages["delivery"].promoters == 1
    # Previous period: dispatch 9 (★3, 21:30 UTC on the 8th) and 11 (★5 and a comment).
    assert previous.stages["visit"].ratings == 2
    assert previous.stages["visit"].rating_sum == 8
    assert previous.stages["visit"].comments == 1
    assert nothing.stages == {} and nothing.touchpoints == {}


async def test_a_later_refresh_builds_only_the_days_closed_since(sessions: Sessions) -> None:
    """Days already built are not built again; the newly closed ones are."""
    await refresh(sessions, ["cafe"], utc(14, 2))  # builds up to the 13th
    assert max(await built(sessions)) == D(2026, 11, 13)
    done = await refresh(sessions, ["cafe"], utc(17, 2) + timedelta(days=1))
    assert done["cafe"].built == [D(2026, 11, day) for day in (14, 15, 16)]


async def test_journey_scores_for_priorities(sessions: Sessions) -> None:
    """Journeys with an NPS in the period (orders 4-7): delivery = courier ★1, ★4, ★5
    against NPS 10, 9, 7; visit ★1 against NPS 3 (order 7); read from the answers, the
    rollup or not."""
    async with sessions() as session:
        scores = await journey_scores(session, "cafe", PERIOD)
        vip = await journey_scores(session, "cafe", PERIOD, "vip")
    assert scores.journeys == 4
    delivery = scores.x[:, scores.stages.index("delivery")]
    pairs = zip(delivery.tolist(), scores.y.tolist(), strict=True)
    rated = [(x, y) for x, y in pairs if not math.isnan(x)]  # NaN: did not rate delivery
    assert sorted(rated) == [(1.0, 10.0), (4.0, 9.0), (5.0, 7.0)]
    visit = scores.x[:, scores.stages.index("visit")]
    assert [y for x, y in zip(visit.tolist(), scores.y.tolist(), strict=True) if x == 1.0] == [3.0]
    assert vip.journeys == 1 and vip.stages == ("delivery",)


async def test_low_comments_are_sought_among_the_most_recent(sessions: Sessions) -> None:
    """Delivery comments, newest first: "Friendly courier" (15th, ★5), "Box was crushed"
    (14th, anger: low), "Late again" (13th, ★1: low). Low first — among the lookback."""
    async with sessions() as session:
        every = await top_comments(session, "cafe", PERIOD, None, "delivery")
        newest = await top_comments(session, "cafe", PERIOD, None, "delivery", lookback=1)
        two = await top_comments(session, "cafe", PERIOD, None, "delivery", lookback=2)
        vip = await top_comments(session, "cafe", PERIOD, "vip", "delivery")
    assert [(c.text, c.low) for c in every] == [
        ("Box was crushed", True), ("Late again", True), ("Friendly courier", False),
    ]  # fmt: skip
    assert [(c.text, c.low) for c in newest] == [("Friendly courier", False)]
    assert [c.text for c in two] == ["Box was crushed", "Friendly courier"]
    assert vip == []  # order 5 (vip) left no comment
