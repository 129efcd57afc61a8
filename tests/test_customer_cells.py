"""Customer-level sums (reports.customers): a customer's answers within a cell count once,
follow-ups asked only after a low answer are left out, the relative score pairs a stage
with the same customer's other ratings — read live from the answers and from the daily
rollup alike. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reports.customers import CustomerCells, CustomerFigures, Moments, customer_cells
from reports.rollups import refresh
from storage import answers
from storage.db import make_engine, make_session_factory
from storage.models import Customer, Dispatch, Order

Sessions = async_sessionmaker[AsyncSession]
FOLLOW_UPS = {"cafe": ["why_low"]}

# (order, day, question, stage, touchpoint, rating)
ANSWERS = [
    (1, 10, "q_visit", "visit", None, 2),
    (1, 10, "q_counter", "visit", "counter", 4),
    (1, 10, "q_pay", "pay", None, 5),
    (2, 10, "q_visit", "visit", None, 5),
    (2, 10, "q_pay", "pay", None, 3),
    (3, 11, "q_visit", "visit", None, 1),
    (3, 11, "why_low", "visit", None, 1),  # a follow-up: left out
    # A journey whose last wave asks one stage alone: before the period, on day 3, the
    # first wave; on day 12 the "back" stage alone, compared with the day-3 ratings of the
    # other stages (4 and 3; not its own 5, not the follow-up).
    (4, 3, "q_visit", "visit", None, 4),
    (4, 3, "q_pay", "pay", None, 3),
    (4, 3, "q_back_early", "back", None, 5),
    (4, 3, "why_low", "visit", None, 1),
    (4, 12, "q_back", "back", None, 2),
    (4, 12, "q_desk", "back", "desk", 3),
]


def at(day: int) -> datetime:
    return datetime(2026, 11, day, 12, tzinfo=UTC)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    async with factory.begin() as session:
        await session.execute(
            insert(Customer).values(id=1, ref="c1", status="active", created_at=at(1))
        )
        for number in (1, 2, 3, 4):
            await session.execute(insert(Order).values(
                id=number, external_id=f"o{number}", customer_id=1, survey_id="cafe",
                segment="a", source="test", journey="scheduled", purchased_at=at(1),
                created_at=at(1),
            ))  # fmt: skip
            await session.execute(insert(Dispatch).values(
                id=number, order_id=number, customer_id=1, survey_id="cafe", wave_id="w",
                segment="a", status="sent", sent_at=at(9), attempts=1, progress={},
                created_at=at(1),
            ))  # fmt: skip
        for row in ANSWERS:
            await add(session, *row)
    yield factory
    await engine.dispose()


async def add(
    session: AsyncSession,
    order: int,
    day: int,
    question: str,
    stage: str,
    touchpoint: str | None,
    rating: int,
) -> None:
    assert await answers.insert(session, {
        "dispatch_id": order, "order_id": order, "customer_id": 1,
        "survey_id": "cafe", "wave_id": "w", "question_id": question, "stage": stage,
        "touchpoint": touchpoint, "kind": "rating", "segment": "a",
        "answered_at": at(day), "rating": rating,
    })  # fmt: skip


async def read(sessions: Sessions) -> CustomerCells:
    async with sessions() as session:
        return await customer_cells(
            session, "cafe", date(2026, 11, 9), date(2026, 11, 16), excluded=FOLLOW_UPS["cafe"]
        )


EXPECTED_VISIT = CustomerFigures(
    customers=3,
    # customers' mean ratings 3 (2 and 4), 5 and 1: the follow-up's 1 is not counted
    rating=Moments(3, 9.0, 35.0),
    # shares of 4–5: one of two, one of one, none
    csat=Moments(3, 1.5, 1.25),
    # 3 − 5 (their pay rating) and 5 − 3; customer 3 rated nothing else
    relative=Moments(2, 0.0, 8.0),
    # customers 1 (a 2) and 3 (a 1) answered low; the follow-up adds no one
    low=2,
)


async def test_each_customer_counts_once_per_cell(sessions: Sessions) -> None:
    cells = await read(sessions)
    assert cells.stages["visit"] == EXPECTED_VISIT
    assert cells.stages["pay"].rating == Moments(2, 8.0, 34.0)
    assert cells.stages["pay"].relative == Moments(2, 0.0, 8.0)  # 5 − 3, 3 − 5
    assert cells.stages["pay"].low == 1  # customer 2's 3
    assert cells.touchpoints["visit", "counter"].low == 0
    assert cells.touchpoints["visit", "counter"].rating == Moments(1, 4.0, 16.0)
    assert cells.touchpoints["visit", "counter"].relative == Moments(1, 0.5, 0.25)  # 4 − 3.5


async def test_a_stage_asked_alone_is_compared_with_the_journeys_earlier_days(
    sessions: Sessions,
) -> None:
    cells = await read(sessions)
    back = cells.stages["back"]
    assert back.rating == Moments(1, 2.5, 6.25)  # the day-3 rating is outside the period
    assert back.relative == Moments(1, -1.0, 1.0)  # 2.5 − mean(4, 3)
    # the touchpoint has the stage's other question the same day: 3 − 2
    assert cells.touchpoints["back", "desk"].relative == Moments(1, 1.0, 1.0)


async def test_the_rollup_gives_the_same_customer_sums(sessions: Sessions) -> None:
    live = await read(sessions)
    done = await refresh(sessions, ["cafe"], datetime(2026, 11, 17, 2, tzinfo=UTC), FOLLOW_UPS)
    assert done["cafe"].built == [date(2026, 11, d) for d in (3, 10, 11, 12)]
    assert await read(sessions) == live


async def test_a_late_answer_on_an_earlier_day_rebuilds_the_journeys_later_days(
    sessions: Sessions,
) -> None:
    await refresh(sessions, ["cafe"], datetime(2026, 11, 17, 2, tzinfo=UTC), FOLLOW_UPS)
    async with sessions.begin() as session:  # an import: day 4 of journey 4, after the fact
        await add(session, 4, 4, "q_pay_again", "pay", None, 2)
    done = await refresh(sessions, ["cafe"], datetime(2026, 11, 17, 3, tzinfo=UTC), FOLLOW_UPS)
    assert done["cafe"].built == [date(2026, 11, 4), date(2026, 11, 12)]
    cells = await read(sessions)
    assert cells.stages["back"].relative == Moments(1, -0.5, 0.25)  # 2.5 − mean(4, 3, 2)
    async with sessions() as session:  # the same, read from the answers alone
        live = await customer_cells(
            session, "cafe", date(2026, 11, 12), date(2026, 11, 13), excluded=["why_low"]
        )
    assert live.stages["back"].relative == Moments(1, -0.5, 0.25)
