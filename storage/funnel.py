"""Where customers drop out of a wave: the counts behind `reports.funnel`.

A wave belongs to the period in which it was sent: `sent_at` for a wave whose send was
recorded (`ix_dispatches_survey_sent` finds them), else when its request started
(`sending_at`, or `closed_at` for rows older than that column) for a send that failed
or whose result is unknown. Both queries GROUP BY a handful of columns, so the rows
that come back number waves × statuses × questions, never dispatches or answers.

Counting the answers joins each wave's answers (an index lookup per wave), which over
twelve weeks costs ~10× a scan of the answers table: so each day of waves, once none of
them can change, is rolled up (`funnel_*` tables, below) and a report reads the live
tables only for the days still open.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Answer,
    Dispatch,
    DispatchStatus,
    FunnelAnswerRollup,
    FunnelDay,
    FunnelWaveRollup,
)

# A wave whose request was made but whose send was never recorded: it failed, or it is
# unknown; once answered (the tap proves it arrived) it may be in any later status.
_UNDELIVERED = (DispatchStatus.FAILED, DispatchStatus.UNKNOWN)


@dataclass(frozen=True, slots=True)
class WaveRow:
    """How many waves of `wave_id` are in `status`, waiting on (or left at)
    `current_question`, opened or not, with their send recorded or not."""

    wave_id: str
    status: str
    current_question: str | None
    opened: bool
    recorded: bool
    count: int


@dataclass(frozen=True, slots=True)
class FunnelRows:
    waves: list[WaveRow]
    answered: dict[tuple[str, str], int]  # (wave id, question id) → answers

    def __add__(self, other: FunnelRows) -> FunnelRows:
        answered = dict(self.answered)
        for key, n in other.answered.items():
            answered[key] = answered.get(key, 0) + n
        return FunnelRows([*self.waves, *other.waves], answered)


def _periods(start: Any, end: Any) -> list[ColumnElement[bool]]:
    """The two ways a wave is sent in [start, end): a recorded send, or a request made."""
    started = func.coalesce(Dispatch.sending_at, Dispatch.closed_at)
    return [
        and_(Dispatch.sent_at >= start, Dispatch.sent_at < end),
        and_(
            Dispatch.sent_at.is_(None),
            or_(Dispatch.status.in_(_UNDELIVERED), Dispatch.opened_at.is_not(None)),
            started >= start,
            started < end,
        ),
    ]


def _filters(survey_id: str, segment: str | None) -> list[ColumnElement[bool]]:
    conditions = [Dispatch.survey_id == survey_id]
    if segment is not None:
        conditions.append(Dispatch.segment == segment)
    return conditions


def wave_rows_query(
    conditions: Sequence[ColumnElement[bool]], by_segment: bool = False
) -> Select[Any]:
    opened = Dispatch.opened_at.is_not(None)
    recorded = Dispatch.sent_at.is_not(None)
    keys: list[Any] = [
        Dispatch.wave_id,
        Dispatch.status,
        Dispatch.current_question,
        opened,
        recorded,
    ]
    if by_segment:
        keys.insert(0, func.coalesce(Dispatch.segment, ""))
    return select(*keys, func.count()).where(*conditions).group_by(*keys)


def answered_query(
    conditions: Sequence[ColumnElement[bool]], by_segment: bool = False
) -> Select[Any]:
    # The answers of each wave are found on uq_answers_dispatch_id (dispatch_id,
    # question_id): an index-only lookup per wave, no walk over the answers table.
    keys: list[Any] = [Dispatch.wave_id, Answer.question_id]
    if by_segment:
        keys.insert(0, func.coalesce(Dispatch.segment, ""))
    return (
        select(*keys, func.count())
        .join(Answer, Answer.dispatch_id == Dispatch.id)
        .where(*conditions)
        .group_by(*keys)
    )


def conditions_of(
    survey_id: str, start: datetime, end: datetime, segment: str | None
) -> list[list[ColumnElement[bool]]]:
    """The WHERE of each of the two queries per statement (see _periods)."""
    return [[*_filters(survey_id, segment), period] for period in _periods(start, end)]


# A report's reads below are built once per shape, bound per call and run on the
# session's connection: a new statement through the ORM session cost ~0.5 ms of CPU, a
# kept one on the connection ~0.2.


@functools.cache
def _live_queries(by_segment: bool) -> list[tuple[Select[Any], Select[Any]]]:
    """(waves, answers) statements per way of being sent (see _periods), bound with
    `survey_id`, `start`, `end` (and `segment`)."""
    moment = Dispatch.sent_at.type
    filters: list[ColumnElement[bool]] = [Dispatch.survey_id == bindparam("survey_id")]
    if by_segment:
        filters.append(Dispatch.segment == bindparam("segment"))
    periods = _periods(bindparam("start", type_=moment), bindparam("end", type_=moment))
    return [
        (wave_rows_query([*filters, period]), answered_query([*filters, period]))
        for period in periods
    ]


async def funnel_rows(
    session: AsyncSession,
    survey_id: str,
    start: datetime,
    end: datetime,
    segment: str | None = None,
) -> FunnelRows:
    """The survey's waves sent in [start, end) (of the segment) and their answers."""
    waves: list[WaveRow] = []
    answered: dict[tuple[str, str], int] = {}
    connection = await session.connection()
    values = {"survey_id": survey_id, "start": start, "end": end, "segment": segment}
    for wave_query, answers_query in _live_queries(segment is not None):  # live: no rollup
        rows = await connection.execute(wave_query, values)
        waves.extend(
            WaveRow(wave, str(status), question, bool(was_opened), bool(was_recorded), int(n))
            for wave, status, question, was_opened, was_recorded, n in rows
        )
        for wave, question, n in await connection.execute(answers_query, values):
            answered[wave, question] = answered.get((wave, question), 0) + int(n)
    return FunnelRows(waves, answered)


# -- the daily rollup ---------------------------------------------------------------------
# A day of waves (by when they were sent) is rolled up once none of them can change any
# more: none is open, being sent, or unknown (an unknown send may still be answered).
# Until then the day is read live, and each refresh looks at it again.

_UNSETTLED = (DispatchStatus.SENT, DispatchStatus.SENDING, DispatchStatus.UNKNOWN)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _day_conditions(survey_id: str, day: date) -> list[list[ColumnElement[bool]]]:
    return conditions_of(survey_id, _midnight(day), _midnight(day + timedelta(days=1)), None)


async def _settled(session: AsyncSession, survey_id: str, day: date) -> bool:
    for conditions in _day_conditions(survey_id, day):
        open_one = select(Dispatch.id).where(*conditions, Dispatch.status.in_(_UNSETTLED))
        if await session.scalar(open_one.limit(1)) is not None:
            return False
    # A request started that day whose result is not recorded yet (on the partial index
    # of waves being sent: a handful of rows).
    start, end = _midnight(day), _midnight(day + timedelta(days=1))
    in_flight = select(Dispatch.id).where(
        Dispatch.status == DispatchStatus.SENDING,
        Dispatch.survey_id == survey_id,
        Dispatch.sending_at >= start,
        Dispatch.sending_at < end,
    )
    return await session.scalar(in_flight.limit(1)) is None


async def _mark(session: AsyncSession, survey_id: str, day: date, built: datetime | None) -> None:
    changed: Any = await session.execute(
        update(FunnelDay)
        .where(FunnelDay.survey_id == survey_id, FunnelDay.day == day)
        .values(built_at=built)
    )
    if changed.rowcount == 0:
        session.add(FunnelDay(survey_id=survey_id, day=day, built_at=built))


async def _day_rows(
    session: AsyncSession, survey_id: str, day: date
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    waves: dict[tuple[Any, ...], int] = {}
    answers: dict[tuple[Any, ...], int] = {}
    for conditions in _day_conditions(survey_id, day):
        for *key, n in await session.execute(wave_rows_query(conditions, by_segment=True)):
            segment, wave, status, question, opened, recorded = key
            at = (segment, wave, str(status), question or "", bool(opened), bool(recorded))
            waves[at] = waves.get(at, 0) + int(n)
        for segment, wave, question, n in await session.execute(
            answered_query(conditions, by_segment=True)
        ):
            answers[segment, wave, question] = answers.get((segment, wave, question), 0) + n
    base = {"survey_id": survey_id, "day": day}
    wave_keys = ("segment", "wave_id", "status", "current_question", "opened", "recorded")
    return (
        [{**base, **dict(zip(wave_keys, k, strict=True)), "waves": n} for k, n in waves.items()],
        [
            {**base, "segment": seg, "wave_id": w, "question_id": q, "answers": int(n)}
            for (seg, w, q), n in answers.items()
        ],
    )


async def build_day(session: AsyncSession, survey_id: str, day: date, now: datetime) -> bool:
    """Roll the day's waves up if they are settled (in the caller's transaction);
    else remember the day as one to look at again. Returns whether it was built."""
    if not await _settled(session, survey_id, day):
        await _mark(session, survey_id, day, None)
        return False
    for table in (FunnelWaveRollup, FunnelAnswerRollup):
        await session.execute(delete(table).where(table.survey_id == survey_id, table.day == day))
    waves, answers = await _day_rows(session, survey_id, day)
    if waves:
        await session.execute(insert(FunnelWaveRollup), waves)
    if answers:
        await session.execute(insert(FunnelAnswerRollup), answers)
    await _mark(session, survey_id, day, now)
    return True


async def days_to_build(session: AsyncSession, survey_id: str, before: date) -> list[date]:
    """Days seen unsettled before, and every day after the last one seen, up to `before`
    (exclusive); from the first wave's day on the first refresh."""
    pending = await session.scalars(
        select(FunnelDay.day).where(
            FunnelDay.survey_id == survey_id, FunnelDay.built_at.is_(None), FunnelDay.day < before
        )
    )
    last = await session.scalar(
        select(func.max(FunnelDay.day)).where(FunnelDay.survey_id == survey_id)
    )
    if last is None:
        first_sent = await session.scalar(
            select(func.min(Dispatch.sent_at)).where(Dispatch.survey_id == survey_id)
        )
        if first_sent is None:
            return []
        first = first_sent.astimezone(UTC).date()
    else:
        first = last + timedelta(days=1)
    new = [first + timedelta(days=i) for i in range(max((before - first).days, 0))]
    return sorted(set(pending) | set(new))


@functools.cache
def _built_days_statement() -> Select[Any]:
    day = FunnelDay.day
    return (
        select(day)
        .where(
            FunnelDay.survey_id == bindparam("survey_id"),
            day >= bindparam("start", type_=day.type), day < bindparam("end", type_=day.type),
            FunnelDay.built_at.is_not(None),
        )
        .order_by(day)
    )  # fmt: skip


async def built_days(session: AsyncSession, survey_id: str, start: date, end: date) -> list[date]:
    connection = await session.connection()
    values = {"survey_id": survey_id, "start": start, "end": end}
    return list((await connection.execute(_built_days_statement(), values)).scalars())


async def rollup_rows(
    session: AsyncSession,
    survey_id: str,
    ranges: Sequence[tuple[date, date]],
    segment: str | None = None,
) -> FunnelRows:
    """The rolled-up days in `ranges` ([start, end) each), as funnel_rows gives them."""
    w, a = FunnelWaveRollup, FunnelAnswerRollup
    keys = (w.wave_id, w.status, w.current_question, w.opened, w.recorded)
    wave_where = [w.survey_id == survey_id, _in_ranges(w.day, ranges)]
    answer_where = [a.survey_id == survey_id, _in_ranges(a.day, ranges)]
    if segment is not None:
        wave_where.append(w.segment == segment)
        answer_where.append(a.segment == segment)
    rows = await session.execute(
        select(*keys, func.sum(w.waves)).where(*wave_where).group_by(*keys)
    )
    waves = [
        WaveRow(wave, status, question or None, bool(opened), bool(recorded), int(n))
        for wave, status, question, opened, recorded, n in rows
    ]
    answered = await session.execute(
        select(a.wave_id, a.question_id, func.sum(a.answers))
        .where(*answer_where)
        .group_by(a.wave_id, a.question_id)
    )
    return FunnelRows(waves, {(wave, question): int(n) for wave, question, n in answered})


def _in_ranges(column: Any, ranges: Sequence[tuple[date, date]]) -> ColumnElement[bool]:
    return or_(*(and_(column >= start, column < end) for start, end in ranges))
