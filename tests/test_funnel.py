"""Where customers drop out (reports.funnel), on waves seeded straight into the database
as the dispatcher and the answer path leave them, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import itertools
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reports.aggregate import Period
from reports.funnel import (
    Funnel,
    QuestionStep,
    WaveFunnel,
    build_funnel,
    drop_out_point,
)
from reports.funnel_rollup import refresh_funnel
from reports.render_html import render_html
from storage.db import make_engine, make_session_factory
from storage.models import (
    Answer,
    Dispatch,
    DispatchStatus,
    FunnelAnswerRollup,
    FunnelDay,
    FunnelWaveRollup,
    Journey,
    Order,
)
from surveys.loader import load_survey
from tests.test_render_html import check_page, small_report

LEAN = load_survey("lean")
WAVE = LEAN.waves[0]  # after_first_purchase; purchase_pain only after a rating ≤ 3
QUESTIONS = [q.id for q in WAVE.questions]
PERIOD = Period(date(2026, 11, 2), date(2026, 11, 9))
SENT = datetime(2026, 11, 3, 10, tzinfo=UTC)
_numbers = itertools.count(1)


async def wave(
    session: AsyncSession,
    status: DispatchStatus,
    answered: Sequence[str] = (),
    on: str | None = "heard_from",
    *,
    low: bool = False,
    sent: datetime | None = SENT,
    started: datetime | None = None,
    segment: str = "a",
    survey_id: str = "lean",
) -> None:
    """One customer's wave: `answered` questions answered (purchase_rating low or high),
    `on` the question on screen (None once completed)."""
    number = next(_numbers)
    order = Order(
        external_id=f"o{number}", survey_id=survey_id, source="api", segment=segment,
        journey=Journey.SCHEDULED, purchased_at=SENT, created_at=SENT,
    )  # fmt: skip
    session.add(order)
    await session.flush()
    at = (sent or started or SENT) + timedelta(minutes=5)
    dispatch = Dispatch(
        order_id=order.id, survey_id=survey_id, wave_id=WAVE.id, segment=segment,
        status=status, attempts=1, progress={}, sent_at=sent, sending_at=started or sent,
        opened_at=at if answered else None, current_question=on, created_at=SENT,
        closed_at=None if status is DispatchStatus.SENT else at,
    )  # fmt: skip
    session.add(dispatch)
    await session.flush()
    for question_id in answered:
        question = next(q for q in WAVE.questions if q.id == question_id)
        rating = (2 if low else 5) if question.kind == "rating" else None
        session.add(Answer(
            dispatch_id=dispatch.id, order_id=order.id, survey_id=survey_id,
            wave_id=WAVE.id, question_id=question_id, stage=question.stage,
            kind=question.kind.value, segment=segment, rating=rating, answered_at=at,
            day=at.date(),
        ))  # fmt: skip


ANSWERED, EXPIRED, SENT_ = DispatchStatus.ANSWERED, DispatchStatus.EXPIRED, DispatchStatus.SENT
ALL_FIVE = QUESTIONS[:5]


async def seed(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        async with make_session_factory(engine).begin() as s:
            for _ in range(6):  # completed, happy: the follow-up was not asked
                await wave(s, ANSWERED, ALL_FIVE, None)
            for _ in range(4):  # completed, unhappy: the follow-up asked and answered
                await wave(s, ANSWERED, QUESTIONS, None, low=True)
            for _ in range(3):  # unhappy, left at the follow-up
                await wave(s, EXPIRED, ALL_FIVE, "purchase_pain", low=True)
            for _ in range(8):  # left at the third question
                await wave(s, EXPIRED, QUESTIONS[:2], "first_contact_emotion")
            for _ in range(5):  # never opened
                await wave(s, EXPIRED)
            for _ in range(2):  # still answering: on purchase_rating
                await wave(s, SENT_, QUESTIONS[:3], "purchase_rating")
            await wave(s, DispatchStatus.CANCELLED, QUESTIONS[:1], "first_contact_rating")
            for _ in range(2):  # Telegram refused
                await wave(s, DispatchStatus.FAILED, on=None, sent=None, started=SENT)
            await wave(s, DispatchStatus.UNKNOWN, on=None, sent=None, started=SENT)
            # An unknown send the customer answered all the same: delivered after all.
            await wave(s, ANSWERED, ALL_FIVE, None, sent=None, started=SENT)
            # Not in the report: sent before the period, another segment, another survey,
            # and a wave cancelled before it was ever sent.
            await wave(s, ANSWERED, ALL_FIVE, None, sent=SENT - timedelta(days=7))
            await wave(s, ANSWERED, ALL_FIVE, None, segment="b")
            await wave(s, ANSWERED, ALL_FIVE, None, survey_id="cafe")
            await wave(s, DispatchStatus.CANCELLED, on=None, sent=None)
    finally:
        await engine.dispose()


async def funnel_of(database_url: str, segment: str | None = "a") -> Funnel:
    engine = make_engine(database_url)
    try:
        async with make_session_factory(engine)() as session:
            return await build_funnel(session, LEAN, PERIOD, segment, "en")
    finally:
        await engine.dispose()


def steps(wave: WaveFunnel) -> dict[str, tuple[int, int, int, int]]:
    return {q.id: (q.reached, q.answered, q.stopped, q.waiting) for q in wave.questions}


async def test_a_waves_funnel_from_sent_to_completed(database_url: str) -> None:
    await seed(database_url)
    funnel = await funnel_of(database_url)

    (first,) = funnel.waves  # the repeat wave sent nothing: left out
    assert (first.id, first.name) == ("after_first_purchase", "After the first purchase")
    assert (first.sent, first.delivered, first.failed, first.unknown) == (33, 30, 2, 1)
    assert (first.opened, first.completed) == (25, 11)
    assert (first.expired, first.cancelled, first.open) == (16, 1, 2)


async def test_each_question_counts_whom_it_was_shown_and_where_they_stopped(
    database_url: str,
) -> None:
    await seed(database_url)
    (first,) = (await funnel_of(database_url)).waves

    # reached, answered, stopped there, still on it
    assert steps(first) == {
        "heard_from": (30, 25, 5, 0),  # the 5 who never opened the wave
        "first_contact_rating": (25, 24, 1, 0),
        "first_contact_emotion": (24, 16, 8, 0),
        "purchase_rating": (16, 14, 0, 2),
        "purchase_emotion": (14, 14, 0, 0),
        "purchase_pain": (7, 4, 3, 0),  # asked only the 7 who rated ≤ 3
    }
    pain = first.questions[-1]
    assert pain.follow_up and not first.questions[0].follow_up
    assert pain.stop_share.value == pytest.approx(3 / 7)


async def test_the_drop_out_point_is_where_most_customers_stopped(database_url: str) -> None:
    await seed(database_url)
    (first,) = (await funnel_of(database_url)).waves

    assert first.drop_out is not None and first.drop_out.id == "first_contact_emotion"
    assert [q.id for q in first.questions if q.drop_out] == ["first_contact_emotion"]
    share = first.drop_out.stop_share
    assert (share.count, share.of) == (8, 24)
    interval = share.interval()
    assert interval is not None and 0.05 < interval[0] < 1 / 3 < interval[1]


async def test_the_segment_filter_and_everyone(database_url: str) -> None:
    await seed(database_url)
    (everyone,) = (await funnel_of(database_url, None)).waves
    (other,) = (await funnel_of(database_url, "b")).waves

    assert (everyone.sent, everyone.completed) == (34, 12)
    assert (other.sent, other.delivered, other.opened, other.completed) == (1, 1, 1, 1)
    assert steps(other)["purchase_pain"] == (0, 0, 0, 0)
    assert other.drop_out is None


async def test_nothing_sent_is_an_empty_funnel(database_url: str) -> None:
    assert (await funnel_of(database_url)).waves == ()


def step(ident: str, answered: int, stopped: int) -> QuestionStep:
    return QuestionStep(ident, ident, False, answered, stopped)


def test_no_drop_out_point_on_a_few_customers_or_a_trickle() -> None:
    never_opened = step("first", 100, 60)  # the first question is the opening, not a drop
    assert drop_out_point([never_opened, step("q2", 96, 4), step("q3", 90, 3)], 5) is None
    # 5 of 1,000 stop: enough customers, but a question losing 0.5 % loses nobody.
    assert drop_out_point([never_opened, step("q2", 995, 5)], 5) is None
    assert drop_out_point([never_opened, step("q2", 25, 5)], 5) == step("q2", 25, 5)
    # Most customers, not the highest share: 6 of 12 at q3 against 20 of 200 at q2.
    worst = drop_out_point([never_opened, step("q2", 180, 20), step("q3", 6, 6)], 5)
    assert worst is not None and worst.id == "q2"


# --- in the HTML report -------------------------------------------------------------------


def html_funnel() -> Funnel:
    pain = "What could we have done better? A few words help us fix it."
    questions = (
        QuestionStep("heard_from", "How did you hear about us?", False, 25, 5),
        QuestionStep("feel", "How did you feel?", False, 16, 8, drop_out=True),
        QuestionStep("rating", "Overall, how was it?", False, 14, 0, 2),
        QuestionStep("pain", pain, True, 4, 3),
    )
    first = WaveFunnel(
        "after", "After the visit", delivered=30, failed=2, unknown=1, opened=25,
        completed=11, expired=16, cancelled=1, open=2, questions=questions,
    )  # fmt: skip
    return Funnel((first,), 5)


def test_the_html_report_shows_where_customers_drop_out() -> None:
    report = dataclasses.replace(small_report(), funnel=html_funnel())
    page = check_page(render_html(report))
    text = page.text

    assert "Where customers drop out" in page.texts
    assert "After the visit" in page.texts
    assert (
        "33 sent · 30 delivered · 25 opened (83%) · 11 completed (37%) · 16 expired · "
        "1 stopped the survey · 2 still answering · 2 not delivered · 1 delivery unknown"
    ) in page.texts
    assert "Question\nShown\nAnswered\nStopped" in text
    assert "How did you hear about us?\n30\n25\n5\n17%\n8–30%" in text
    assert "How did you feel?\n(drop-out point)\n24\n16\n8\n33%\n20–50%" in text
    assert "Overall, how was it?\n16\n14\n0\n0%\n0–16%" in text
    assert (
        "↳\nWhat could we have done better? A few words help us fix it.\n7\n4\n3\n43%\n19–71%"
    ) in text
    assert (
        "Most customers stop at “How did you feel?”: 8 of 24 who got there (33%, 90%: 20–50%)."
    ) in page.texts
    rows = [attrs for tag, attrs in page.tags if tag == "tr" and attrs.get("class")]
    assert rows == [{"class": "problem"}]  # the drop-out point's row only
    assert ("span", {"title": "a follow-up question"}) in page.tags


def test_the_funnel_reads_in_russian() -> None:
    report = dataclasses.replace(small_report(), locale="ru", funnel=html_funnel())
    page = check_page(render_html(report))

    assert "Где клиенты бросают опрос" in page.texts
    assert "Вопрос\nПоказан\nОтветили\nБросили" in page.text
    assert (
        "Чаще всего клиенты бросают опрос на вопросе «How did you feel?»: 8 из 24 "
        "дошедших до него (33\xa0%, 90\xa0%: 20–50\xa0%)."
    ) in page.texts
    assert "33 отправлено · 30 доставлено · 25 начали отвечать (83\xa0%)" in page.text


def test_no_funnel_section_when_nothing_was_sent() -> None:
    page = check_page(render_html(small_report()))
    assert "Where customers drop out" not in page.texts
    assert "funnel" not in {attrs.get("id") for _, attrs in page.tags}


# --- the daily rollup ---------------------------------------------------------------------

LATER = datetime(2026, 11, 20, 12, tzinfo=UTC)
IN_FLIGHT = datetime(2026, 11, 5, 23, 50, tzinfo=UTC)


async def refresh(database_url: str) -> list[date]:
    engine = make_engine(database_url)
    try:
        return await refresh_funnel(make_session_factory(engine), "lean", LATER)
    finally:
        await engine.dispose()


async def execute(database_url: str, *statements: Any) -> list[Any]:
    engine = make_engine(database_url)
    try:
        async with make_session_factory(engine).begin() as session:
            results = [await session.execute(s) for s in statements]
            return [[] if s.is_dml else list(r) for s, r in zip(statements, results, strict=True)]
    finally:
        await engine.dispose()


async def test_a_day_is_rolled_up_once_its_waves_are_settled(database_url: str) -> None:
    await seed(database_url)
    engine = make_engine(database_url)
    async with make_session_factory(engine).begin() as session:  # a send in flight
        await wave(session, DispatchStatus.SENDING, on=None, sent=None, started=IN_FLIGHT)
    await engine.dispose()
    live = {segment: await funnel_of(database_url, segment) for segment in ("a", "b", None)}

    built = await refresh(database_url)
    # 10-27 (the wave sent a week before) to 11-19; not 11-03: waves there are still
    # open, or unknown (an unknown send may still be answered).
    assert built[0] == date(2026, 10, 27) and built[-1] == date(2026, 11, 19)
    assert SENT.date() not in built and IN_FLIGHT.date() not in built and len(built) == 22
    assert {s: await funnel_of(database_url, s) for s in live} == live
    unsettled = select(FunnelDay.day).where(FunnelDay.built_at.is_(None)).order_by(FunnelDay.day)
    assert await execute(database_url, unsettled) == [[(SENT.date(),), (IN_FLIGHT.date(),)]]

    # The open waves expire; the unknown send and the one in flight turn out to have
    # failed.
    await execute(
        database_url,
        update(Dispatch).where(Dispatch.status == SENT_).values(status=EXPIRED),
        update(Dispatch)
        .where(Dispatch.status.in_((DispatchStatus.UNKNOWN, DispatchStatus.SENDING)))
        .values(status=DispatchStatus.FAILED),
    )
    settled = {segment: await funnel_of(database_url, segment) for segment in live}
    assert await refresh(database_url) == [SENT.date(), IN_FLIGHT.date()]
    rolled = {segment: await funnel_of(database_url, segment) for segment in live}
    assert rolled == settled
    (first,) = rolled["a"].waves
    assert (first.failed, first.unknown, first.open, first.expired) == (4, 0, 0, 18)
    assert steps(first)["purchase_rating"] == (16, 14, 2, 0)
    counts = await execute(
        database_url,
        select(func.sum(FunnelWaveRollup.waves)).where(FunnelWaveRollup.day == SENT.date()),
        select(func.sum(FunnelAnswerRollup.answers)).where(FunnelAnswerRollup.day == SENT.date()),
    )
    assert counts == [[(34,)], [(5 * 6 + 6 * 4 + 5 * 3 + 2 * 8 + 3 * 2 + 1 + 5 + 5,)]]
    assert await refresh(database_url) == []  # nothing new to build


def test_the_funnel_benchmark_runs_at_toy_size() -> None:
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-m", "bench.funnel", "--answers", "2000", "--repeat", "1"],
        cwd=root, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "rollup_days_built 84" in result.stdout
