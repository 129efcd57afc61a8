"""The report aggregation (SPEC §4 "Reports") on a small hand-made data set, every figure
computed by hand in the comments. On SQLite and, when configured, PostgreSQL.

The data set — survey "cafe", current period 2026-11-09..2026-11-16 (7 UTC days),
previous 2026-11-02..2026-11-09:

  dispatch  segment  wave            status     answers
  1         a        after_visit     answered   counter ★5, counter joy(+2), comment "Great coffee"
  2         a        after_visit     answered   counter ★4, counter calm(+1), comment skipped
  3         vip      after_visit     answered   counter ★2, counter anger(−2), comment "Cold food",
                                                table choice "window"
  4         a        after_delivery  answered   courier ★1, NPS 10, comment "Late again"
  5         vip      after_delivery  answered   courier ★4, NPS 9
  6         a        after_delivery  answered   courier ★5, NPS 7, comment "Friendly courier"
                                                (01:30+03:00 on the 16th = 22:30 UTC on the 15th)
  7         a        after_delivery  expired    NPS 3, courier anger(−2),
                                                comment "Box was crushed", visit ★1 (no touchpoint)
  8         a        after_visit     answered   counter ★1 on the 16th: after the period
  9         a        after_visit     answered   counter ★3 at 00:30+03:00 on the 9th (21:30 UTC
                                                on the 8th): previous period
  10        a        after_visit     expired    none (previous period)
  11        vip      after_visit     answered   counter ★5, comment "Nice" (previous period)
  12        a        after_visit     answered   survey "shop": counter ★1, comment "Other survey"
  13        a        after_visit     sent       none (still waiting)
  14        vip      after_visit     expired    none
  15        a        after_visit     pending    none, never sent
  16        a        after_visit     cancelled  none
  17        a        after_visit     unknown    none
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from reports.aggregate import (
    Period,
    aggregate,
    compare,
    response_rates,
    top_comments,
)
from reports.figures import Figures
from storage import answers
from storage.db import make_engine, make_session_factory
from storage.models import Customer, Dispatch, DispatchStatus, Order

PERIOD = Period(date(2026, 11, 9), date(2026, 11, 16))
MSK = timezone(timedelta(hours=3))
S = DispatchStatus


def utc(day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


# dispatch id → (survey, segment, wave, status, sent_at)
DISPATCHES: dict[int, tuple[str, str, str, DispatchStatus, datetime | None]] = {
    1: ("cafe", "a", "after_visit", S.ANSWERED, utc(10)),
    2: ("cafe", "a", "after_visit", S.ANSWERED, utc(11)),
    3: ("cafe", "vip", "after_visit", S.ANSWERED, utc(12)),
    4: ("cafe", "a", "after_delivery", S.ANSWERED, utc(13)),
    5: ("cafe", "vip", "after_delivery", S.ANSWERED, utc(14)),
    6: ("cafe", "a", "after_delivery", S.ANSWERED, utc(15)),
    7: ("cafe", "a", "after_delivery", S.EXPIRED, utc(14, 8)),
    8: ("cafe", "a", "after_visit", S.ANSWERED, utc(16)),
    9: ("cafe", "a", "after_visit", S.ANSWERED, utc(8, 20)),
    10: ("cafe", "a", "after_visit", S.EXPIRED, utc(5)),
    11: ("cafe", "vip", "after_visit", S.ANSWERED, utc(3)),
    12: ("shop", "a", "after_visit", S.ANSWERED, utc(10)),
    13: ("cafe", "a", "after_visit", S.SENT, utc(15)),
    14: ("cafe", "vip", "after_visit", S.EXPIRED, utc(11)),
    15: ("cafe", "a", "after_visit", S.PENDING, None),
    16: ("cafe", "a", "after_visit", S.CANCELLED, utc(12)),
    17: ("cafe", "a", "after_visit", S.UNKNOWN, utc(12)),
}

# (dispatch, question, stage, touchpoint, kind, answered_at, value columns)
ANSWERS: list[tuple[int, str, str, str | None, str, datetime, dict[str, Any]]] = [
    (1, "counter_rating", "visit", "counter", "rating", utc(10, 10, 5), {"rating": 5}),
    (1, "counter_emotion", "visit", "counter", "emotion", utc(10, 10, 6),
     {"emotion": "joy", "valence": 2}),
    (1, "visit_comment", "visit", None, "text", utc(10, 10, 7), {"comment": "Great coffee"}),
    (2, "counter_rating", "visit", "counter", "rating", utc(11, 10, 5), {"rating": 4}),
    (2, "counter_emotion", "visit", "counter", "emotion", utc(11, 10, 6),
     {"emotion": "calm", "valence": 1}),
    (2, "visit_comment", "visit", None, "text", utc(11, 10, 7), {"skipped": True}),
    (3, "counter_rating", "visit", "counter", "rating", utc(12, 10, 5), {"rating": 2}),
    (3, "counter_emotion", "visit", "counter", "emotion", utc(12, 10, 6),
     {"emotion": "anger", "valence": -2}),
    (3, "visit_comment", "visit", None, "text", utc(12, 10, 7), {"comment": "Cold food"}),
    (3, "table_choice", "visit", "table", "choice", utc(12, 10, 8), {"choice": "window"}),
    (4, "courier_rating", "delivery", "courier", "rating", utc(13, 10, 5), {"rating": 1}),
    (4, "recommend", "delivery", None, "nps", utc(13, 10, 6), {"nps": 10}),
    (4, "delivery_comment", "delivery", None, "text", utc(13, 12), {"comment": "Late again"}),
    (5, "courier_rating", "delivery", "courier", "rating", utc(14, 10, 5), {"rating": 4}),
    (5, "recommend", "delivery", None, "nps", utc(14, 10, 6), {"nps": 9}),
    (6, "courier_rating", "delivery", "courier", "rating", utc(15, 10, 5), {"rating": 5}),
    (6, "recommend", "delivery", None, "nps", utc(15, 10, 6), {"nps": 7}),
    (6, "delivery_comment", "delivery", None, "text",
     datetime(2026, 11, 16, 1, 30, tzinfo=MSK), {"comment": "Friendly courier"}),
    (7, "recommend", "delivery", None, "nps", utc(14, 8, 5), {"nps": 3}),
    (7, "courier_emotion", "delivery", "courier", "emotion", utc(14, 8, 6),
     {"emotion": "anger", "valence": -2}),
    (7, "delivery_comment", "delivery", None, "text", utc(14, 9),
     {"comment": "Box was crushed"}),
    # A low rating of another stage in the same wave: not a low rating for delivery.
    (7, "overall_visit", "visit", None, "rating", utc(14, 9, 5), {"rating": 1}),
    (8, "counter_rating", "visit", "counter", "rating", utc(16, 10, 5), {"rating": 1}),
    (9, "counter_rating", "visit", "counter", "rating",
     datetime(2026, 11, 9, 0, 30, tzinfo=MSK), {"rating": 3}),
    (11, "counter_rating", "visit", "counter", "rating", utc(3, 10, 5), {"rating": 5}),
    (11, "visit_comment", "visit", None, "text", utc(3, 10, 7), {"comment": "Nice"}),
    (12, "counter_rating", "visit", "counter", "rating", utc(10, 10, 5), {"rating": 1}),
    (12, "visit_comment", "visit", None, "text", utc(10, 10, 9), {"comment": "Other survey"}),
]  # fmt: skip


async def populate(session: AsyncSession) -> None:
    now = utc(1)
    await session.execute(insert(Customer).values(id=1, ref="c1", status="active", created_at=now))
    for number, (survey, segment, wave, status, sent_at) in DISPATCHES.items():
        await session.execute(
            insert(Order).values(
                id=number, external_id=f"o{number}", customer_id=1, survey_id=survey,
                segment=segment, source="test", journey="scheduled", purchased_at=now,
                created_at=now,
            )
        )  # fmt: skip
        await session.execute(
            insert(Dispatch).values(
                id=number, order_id=number, customer_id=1, survey_id=survey, wave_id=wave,
                segment=segment, status=status, sent_at=sent_at, attempts=1, progress={},
                created_at=now,
            )
        )  # fmt: skip
    for dispatch, question, stage, touchpoint, kind, at, values in ANSWERS:
        survey, segment, wave, _, _ = DISPATCHES[dispatch]
        # The product's insert: it derives `day` from answered_at in UTC.
        stored = await answers.insert(session, {
            "dispatch_id": dispatch, "order_id": dispatch, "customer_id": 1,
            "survey_id": survey, "wave_id": wave, "question_id": question, "stage": stage,
            "touchpoint": touchpoint, "kind": kind, "segment": segment, "answered_at": at,
            **values,
        })  # fmt: skip
        assert stored


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    async with factory() as filling:
        await populate(filling)
        await filling.commit()
    async with factory() as reading:
        yield reading
    await engine.dispose()


def test_period_arithmetic() -> None:
    assert PERIOD.days == 7
    assert PERIOD.previous() == Period(date(2026, 11, 2), date(2026, 11, 9))
    assert Period.last_days(7, date(2026, 11, 15)) == PERIOD
    assert PERIOD.bounds() == (utc(9, 0), utc(16, 0))
    with pytest.raises(ValueError, match="empty period"):
        Period(date(2026, 11, 9), date(2026, 11, 9))


async def test_current_period(session: AsyncSession) -> None:
    result = await aggregate(session, "cafe", PERIOD)

    # counter (dispatches 1-3): ★5, ★4, ★2 and joy +2, calm +1, anger −2.
    # answers 6; ratings 3, sum 11, squares 25+16+4 = 45, satisfied (4-5) 2;
    # valence 3 answers, sum 2+1−2 = 1. Dispatch 8 (16th) and 12 (survey shop) are out.
    counter = Figures(
        answers=6, ratings=3, rating_sum=11, rating_squares=45, satisfied=2,
        emotions={"joy": 1, "calm": 1, "anger": 1}, valence_answers=3, valence_sum=1,
    )  # fmt: skip
    assert result.touchpoints["visit", "counter"] == counter
    assert counter.average_rating == pytest.approx(11 / 3)  # 3.667
    assert counter.csat == pytest.approx(2 / 3)
    assert counter.mean_valence == pytest.approx(1 / 3)
    # table: one choice answer, nothing else.
    assert result.touchpoints["visit", "table"] == Figures(answers=1)
    # courier (dispatches 4-7): ★1, ★4, ★5 and anger −2 (dispatch 7).
    # answers 4; ratings 3, sum 10, squares 1+16+25 = 42, satisfied 2.
    assert result.touchpoints["delivery", "courier"] == Figures(
        answers=4, ratings=3, rating_sum=10, rating_squares=42, satisfied=2,
        emotions={"anger": 1}, valence_answers=1, valence_sum=-2,
    )  # fmt: skip
    # Questions without a touchpoint make no touchpoint of their own.
    assert set(result.touchpoints) == {
        ("visit", "counter"), ("visit", "table"), ("delivery", "courier"),
    }  # fmt: skip

    # visit = counter + table + the touchpoint-less answers: comments of 1 and 3 (2's is
    # skipped and does not count) and dispatch 7's ★1 → answers 6 + 1 + 2 + 1 = 10;
    # ratings 5, 4, 2, 1: 4, sum 12, squares 46, satisfied 2 → average 3.0, CSAT 50 %.
    visit = result.stages["visit"]
    assert visit == Figures(
        answers=10, ratings=4, rating_sum=12, rating_squares=46, satisfied=2,
        emotions={"joy": 1, "calm": 1, "anger": 1}, valence_answers=3, valence_sum=1,
        comments=2,
    )  # fmt: skip
    assert (visit.average_rating, visit.csat) == (3.0, 0.5)
    # delivery = courier + NPS 10, 9, 7, 3 + comments of 4, 6 (22:30 UTC on the 15th:
    # inside the period although it is the 16th in Moscow) and 7.
    # answers 4 + 4 + 3 = 11; promoters (9-10) 2, detractors (0-6) 1 → NPS (2−1)/4 = 25.
    delivery = result.stages["delivery"]
    assert delivery == Figures(
        answers=11, ratings=3, rating_sum=10, rating_squares=42, satisfied=2,
        nps_answers=4, promoters=2, detractors=1, emotions={"anger": 1},
        valence_answers=1, valence_sum=-2, comments=3,
    )  # fmt: skip
    assert delivery.nps == 25.0
    assert set(result.stages) == {"visit", "delivery"}


async def test_previous_period_and_change(session: AsyncSession) -> None:
    comparison = await compare(session, "cafe", PERIOD)

    previous = comparison.previous
    # Dispatch 9's ★3 at 00:30 Moscow on the 9th is 21:30 UTC on the 8th: previous period;
    # dispatch 11: ★5 and a comment. counter: ratings 3, 5 → sum 8, squares 34, 1 satisfied.
    assert previous.touchpoints == {
        ("visit", "counter"): Figures(
            answers=2, ratings=2, rating_sum=8, rating_squares=34, satisfied=1
        )
    }
    assert previous.stages == {
        "visit": Figures(
            answers=3, ratings=2, rating_sum=8, rating_squares=34, satisfied=1, comments=1
        )
    }
    assert comparison.current == await aggregate(session, "cafe", PERIOD)

    # counter: average 11/3 − 8/2 = −1/3; CSAT 2/3 − 1/2 = +1/6; answers 6 − 2 = 4;
    # no valence before, so no change of it.
    counter = comparison.touchpoint_change("visit", "counter")
    assert counter.average_rating == pytest.approx(-1 / 3)
    assert counter.csat == pytest.approx(1 / 6)
    assert (counter.nps, counter.mean_valence, counter.answers) == (None, None, 4)
    # visit: average 3.0 − 4.0 = −1; CSAT 0.5 − 0.5 = 0; answers 10 − 3 = 7.
    visit = comparison.stage_change("visit")
    assert (visit.average_rating, visit.csat, visit.answers) == (-1.0, 0.0, 7)
    # delivery had nothing before: no change of any score, answers 11 − 0.
    delivery = comparison.stage_change("delivery")
    assert (delivery.average_rating, delivery.nps, delivery.answers) == (None, None, 11)


async def test_segment_filter(session: AsyncSession) -> None:
    result = await aggregate(session, "cafe", PERIOD, segment="a")

    # Segment a: dispatches 1, 2 (visit), 4, 6, 7 (delivery).
    # counter: ★5, ★4, joy +2, calm +1 → answers 4, ratings 2, sum 9, squares 41, 2 satisfied.
    assert result.touchpoints["visit", "counter"] == Figures(
        answers=4, ratings=2, rating_sum=9, rating_squares=41, satisfied=2,
        emotions={"joy": 1, "calm": 1}, valence_answers=2, valence_sum=3,
    )  # fmt: skip
    # courier: ★1, ★5, anger −2 → answers 3, ratings 2, sum 6, squares 26, 1 satisfied.
    assert result.touchpoints["delivery", "courier"] == Figures(
        answers=3, ratings=2, rating_sum=6, rating_squares=26, satisfied=1,
        emotions={"anger": 1}, valence_answers=1, valence_sum=-2,
    )  # fmt: skip
    assert set(result.touchpoints) == {("visit", "counter"), ("delivery", "courier")}
    # visit: counter 4 + comment of 1 + dispatch 7's ★1 → answers 6; ratings 5, 4, 1.
    assert result.stages["visit"] == Figures(
        answers=6, ratings=3, rating_sum=10, rating_squares=42, satisfied=2,
        emotions={"joy": 1, "calm": 1}, valence_answers=2, valence_sum=3, comments=1,
    )  # fmt: skip
    # delivery: courier 3 + NPS 10, 7, 3 + 3 comments → 9 answers;
    # 10 promotes, 7 is passive, 3 detracts → P 1, D 1 of 3: NPS 0.
    delivery = result.stages["delivery"]
    assert delivery == Figures(
        answers=9, ratings=2, rating_sum=6, rating_squares=26, satisfied=1,
        nps_answers=3, promoters=1, detractors=1, emotions={"anger": 1},
        valence_answers=1, valence_sum=-2, comments=3,
    )  # fmt: skip
    assert delivery.nps == 0.0

    # vip: dispatch 3 (visit) and 5 (delivery) only.
    vip = await aggregate(session, "cafe", PERIOD, segment="vip")
    assert vip.stages["delivery"] == Figures(
        answers=2, ratings=1, rating_sum=4, rating_squares=16, satisfied=1,
        nps_answers=1, promoters=1,
    )  # fmt: skip
    assert vip.stages["visit"].answers == 4  # ★2, anger, "Cold food", window
    assert await aggregate(session, "cafe", PERIOD, segment="nobody") == type(vip)()


async def test_response_rates(session: AsyncSession) -> None:
    # Sent in the period (sent_at 9th..15th), status sent/answered/expired:
    # after_visit 1, 2, 3 answered + 13 sent + 14 expired → 3 of 5 (15 never sent; 16
    # cancelled, 17 unknown: not counted; 8 on the 16th; 12 another survey).
    # after_delivery 4, 5, 6 answered + 7 expired (it has answers, but did not finish) → 3/4.
    assert await response_rates(session, "cafe", PERIOD) == {
        "after_visit": (3, 5),
        "after_delivery": (3, 4),
    }
    # Segment a: visit 1, 2 answered, 13 sent → 2/3; delivery 4, 6 answered, 7 expired → 2/3.
    assert await response_rates(session, "cafe", PERIOD, "a") == {
        "after_visit": (2, 3),
        "after_delivery": (2, 3),
    }
    # vip: visit 3 answered, 14 expired → 1/2; delivery 5 → 1/1.
    assert await response_rates(session, "cafe", PERIOD, "vip") == {
        "after_visit": (1, 2),
        "after_delivery": (1, 1),
    }
    # Previous period: 9 (sent 20:00 UTC on the 8th) and 11 answered, 10 expired → 2/3.
    assert await response_rates(session, "cafe", PERIOD.previous()) == {"after_visit": (2, 3)}
    assert await response_rates(session, "shop", PERIOD) == {"after_visit": (1, 1)}


async def test_top_comments(session: AsyncSession) -> None:
    # delivery, low ones first, each group newest first: "Box was crushed" (9:00 on the
    # 14th, dispatch 7: anger −2 about delivery in the same wave — its ★1 is for the visit
    # stage, so no delivery rating), "Late again" (13th, dispatch 4: ★1); then
    # "Friendly courier" (22:30 UTC on the 15th, ★5, no emotion: not low).
    delivery = await top_comments(session, "cafe", PERIOD, None, "delivery")
    assert [(c.text, c.rating, c.low) for c in delivery] == [
        ("Box was crushed", None, True),
        ("Late again", 1, True),
        ("Friendly courier", 5, False),
    ]
    assert delivery[2].answered_at == datetime(2026, 11, 15, 22, 30, tzinfo=UTC)
    assert delivery[0].touchpoint is None
    # The limit is applied in the query.
    two = await top_comments(session, "cafe", PERIOD, None, "delivery", limit=2)
    assert [c.text for c in two] == ["Box was crushed", "Late again"]

    # visit: "Cold food" (12th, ★2: low), then "Great coffee" (10th, ★5); dispatch
    # 2's skipped comment has no text; "Nice" is in the previous period; "Other survey"
    # belongs to survey shop.
    visit = await top_comments(session, "cafe", PERIOD, None, "visit")
    assert [(c.text, c.low) for c in visit] == [("Cold food", True), ("Great coffee", False)]
    # Segment a: only "Great coffee"; previous period: "Nice".
    assert [c.text for c in await top_comments(session, "cafe", PERIOD, "a", "visit")] == [
        "Great coffee"
    ]
    previous = await top_comments(session, "cafe", PERIOD.previous(), None, "visit")
    assert [(c.text, c.rating, c.low) for c in previous] == [("Nice", 5, False)]
