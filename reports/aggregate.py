"""The map's figures, aggregated in the database (SPEC §4 "Reports").

Periods are whole UTC days: answers are filtered and grouped on `answers.day`, the
answer's date in UTC, which the index `ix_answers_report` orders as
(survey_id, day, stage, touchpoint, emotion, …the value columns). The aggregate groups by
(day, stage, touchpoint, emotion) — a prefix of that key after the survey — so SQLite
walks the index once, in order, without touching the table or sorting; the rows that come
back number days × cells × emotions, never answers, and are folded here into
per-touchpoint and per-stage Figures. Memory does not grow with the number of answers.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    Select,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from reports.cells import SUM_FIELDS, answer_sums, count_if
from reports.days import built_days, gaps, in_bound_runs, run_values, runs, with_answers
from reports.figures import Figures
from reports.week_rollup import split_weeks, week_runs
from storage.models import (
    Answer,
    AnswerRollup,
    AnswerRollupAll,
    AnswerRollupWeek,
    AnswerRollupWeekAll,
    Dispatch,
    DispatchStatus,
)

LOW_RATING = 3  # a comment whose stage rating in the same wave is ≤ this comes first
COMMENT_LOOKBACK = 500  # the most recent comments of a stage searched for low ones
# Waves that reached the customer: the denominator of the response rate.
SENT_STATUSES = (DispatchStatus.SENT, DispatchStatus.ANSWERED, DispatchStatus.EXPIRED)


@dataclass(frozen=True, slots=True)
class Period:
    """Whole UTC days: `start` inclusive, `end` exclusive."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"empty period {self.start}..{self.end}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - timedelta(days=self.days), self.start)

    @classmethod
    def last_days(cls, days: int, today: date) -> Period:
        """The `days` whole days up to and including `today`."""
        return cls(today - timedelta(days=days - 1), today + timedelta(days=1))

    def bounds(self) -> tuple[datetime, datetime]:
        """The period as UTC instants, for timestamp columns."""
        return _midnight(self.start), _midnight(self.end)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Aggregate:
    stages: dict[str, Figures] = field(default_factory=dict)
    # Answers without a touchpoint count only in their stage.
    touchpoints: dict[tuple[str, str], Figures] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Change:
    """This period minus the previous one; None where either side has no value."""

    average_rating: float | None
    csat: float | None  # share, -1…1
    nps: float | None  # points
    mean_valence: float | None
    answers: int


@dataclass(frozen=True, slots=True)
class Comparison:
    current: Aggregate
    previous: Aggregate

    def stage_change(self, stage: str) -> Change:
        return change(self.current.stages.get(stage), self.previous.stages.get(stage))

    def touchpoint_change(self, stage: str, touchpoint: str) -> Change:
        key = (stage, touchpoint)
        return change(self.current.touchpoints.get(key), self.previous.touchpoints.get(key))


@dataclass(frozen=True, slots=True)
class Comment:
    text: str
    answered_at: datetime
    touchpoint: str | None
    rating: int | None  # the stage's rating in the same wave, if it had one
    low: bool  # rated ≤ LOW_RATING or felt a negative emotion about the stage in that wave


# The map's statements are built once per shape and bound per call: building one (a
# dozen sums, their CASEs) and its cache key cost ~0.5 ms, ~3 ms a report.


def _values(
    survey_id: str, ranges: Sequence[tuple[date, date]], segment: str | None
) -> dict[str, Any]:
    return {"survey_id": survey_id, "segment": segment, **run_values(ranges)}


def _cells_query(survey_id: str, period: Period, segment: str | None) -> Select[Any]:
    """The live aggregate of `period`, its values bound (bench.report prints its plan)."""
    values = _values(survey_id, [(period.start, period.end)], segment)
    return _cells_statement(segment is not None).params(values)


@functools.cache
def _cells_statement(by_segment: bool) -> Select[Any]:
    # Grouping by day too keeps the GROUP BY in index order (no sort); days are
    # summed below.
    keys = (Answer.day, Answer.stage, Answer.touchpoint, Answer.emotion)
    conditions = [Answer.survey_id == bindparam("survey_id"), in_bound_runs(Answer.day, 1)]
    if by_segment:
        conditions.append(Answer.segment == bindparam("segment"))
    return (
        select(Answer.stage, Answer.touchpoint, Answer.emotion, func.count(), *answer_sums())
        .where(*conditions)
        .group_by(*keys)
    )


@functools.lru_cache(maxsize=64)
def _rollup_cells_statement(ranges: int, by_segment: bool, weekly: bool) -> Select[Any]:
    """The rollup rows of `ranges` date ranges summed per (stage, touchpoint, emotion):
    the same columns the live aggregate yields ('' read back as NULL). `weekly`: the
    rows of the weeks (Mondays) in the ranges from the weekly level
    (reports.week_rollup). Without a segment, from the sums over all segments: a third
    of the rows to sort and group."""
    if by_segment:
        table: Any = AnswerRollupWeek if weekly else AnswerRollup
    else:
        table = AnswerRollupWeekAll if weekly else AnswerRollupAll
    when = table.week if weekly else table.day
    conditions = [table.survey_id == bindparam("survey_id"), in_bound_runs(when, ranges)]
    if by_segment:
        conditions.append(table.segment == bindparam("segment"))
    touchpoint = func.nullif(table.touchpoint, "")
    emotion = func.nullif(table.emotion, "")
    sums = (func.sum(getattr(table, name)) for name in SUM_FIELDS)
    return (
        select(table.stage, touchpoint, emotion, func.sum(table.rows), *sums)
        .where(*conditions)
        .group_by(table.stage, table.touchpoint, table.emotion)
    )


class _Cell:
    """Running sums of one stage or touchpoint while the group rows are folded."""

    __slots__ = ("emotions", "sums")

    def __init__(self) -> None:
        self.sums = [0] * len(SUM_FIELDS)
        self.emotions: Counter[str] = Counter()

    def add(self, emotion: str | None, rows: int, sums: Iterable[int]) -> None:
        self.sums = [a + int(b) for a, b in zip(self.sums, sums, strict=True)]
        if emotion is not None:
            self.emotions[emotion] += rows

    def figures(self) -> Figures:
        values = dict(zip(SUM_FIELDS, self.sums, strict=True))
        return Figures(emotions=dict(self.emotions), **values)


async def stream_rows(
    session: AsyncSession,
    statement: Select[*tuple[Any, ...]],
    values: Mapping[str, Any] | None = None,
) -> AsyncIterator[Any]:
    """Group rows streamed in batches: even a long period never holds them all. Taken a
    batch at a time: an async iteration row by row crosses into the driver's greenlet
    for every row (~20 µs each, a tenth of the map's figures at 1,000 rows)."""
    # The options given to the call, not to a copy of the statement: the statement
    # keeps its cache key (a copy would make it again).
    connection = await session.connection()  # Core: no ORM handling of the call
    result = await connection.stream(statement, values, execution_options={"yield_per": 1000})
    async for batch in result.partitions():
        for row in batch:
            yield row


async def aggregate(
    session: AsyncSession, survey_id: str, period: Period, segment: str | None = None
) -> Aggregate:
    """Per stage and per touchpoint of `survey_id`, the answers of `period` (and
    `segment`, when given): closed days from the daily rollup, the other days by one
    GROUP BY scan of the report index each."""
    stages: defaultdict[str, _Cell] = defaultdict(_Cell)
    touchpoints: defaultdict[tuple[str, str], _Cell] = defaultdict(_Cell)
    async for stage, touchpoint, emotion, rows, *sums in _cell_rows(
        session, survey_id, period, segment
    ):
        stages[stage].add(emotion, rows, sums)
        if touchpoint is not None:
            touchpoints[stage, touchpoint].add(emotion, rows, sums)
    return Aggregate(
        stages={key: cell.figures() for key, cell in stages.items()},
        touchpoints={key: cell.figures() for key, cell in touchpoints.items()},
    )


async def _cell_rows(
    session: AsyncSession, survey_id: str, period: Period, segment: str | None
) -> AsyncIterator[Any]:
    built = await built_days(session, survey_id, period.start, period.end)
    # Whole weeks from the weekly level: a seventh of the rows to group.
    weeks, days = await split_weeks(session, survey_id, built)
    by_segment = segment is not None
    for ranges, weekly in ((week_runs(weeks), True), (runs(days), False)):
        if ranges:
            statement = _rollup_cells_statement(len(ranges), by_segment, weekly)
            async for row in stream_rows(session, statement, _values(survey_id, ranges, segment)):
                yield row
    live = await with_answers(session, survey_id, gaps(period.start, period.end, built))
    for start, end in live:
        values = _values(survey_id, [(start, end)], segment)
        async for row in stream_rows(session, _cells_statement(by_segment), values):
            yield row


async def compare(
    session: AsyncSession, survey_id: str, period: Period, segment: str | None = None
) -> Comparison:
    """`period` and the period of the same length before it."""
    current = await aggregate(session, survey_id, period, segment)
    previous = await aggregate(session, survey_id, period.previous(), segment)
    return Comparison(current, previous)


def _delta(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else now - before


def change(current: Figures | None, previous: Figures | None) -> Change:
    now, before = current or Figures(), previous or Figures()
    return Change(
        average_rating=_delta(now.average_rating, before.average_rating),
        csat=_delta(now.csat, before.csat),
        nps=_delta(now.nps, before.nps),
        mean_valence=_delta(now.mean_valence, before.mean_valence),
        answers=now.answers - before.answers,
    )


async def response_rates(
    session: AsyncSession, survey_id: str, period: Period, segment: str | None = None
) -> dict[str, tuple[int, int]]:
    """wave_id → (answered waves, sent waves) for the waves sent in `period`.

    By Dispatch.sent_at, not by answer day: a wave sent on the period's last day and
    answered the next still counts as answered here. Expired waves count as sent."""
    start, end = period.bounds()
    conditions = [
        Dispatch.survey_id == survey_id,
        Dispatch.sent_at >= start,
        Dispatch.sent_at < end,
        Dispatch.status.in_(SENT_STATUSES),
    ]
    if segment is not None:
        conditions.append(Dispatch.segment == segment)
    statement = (
        select(
            Dispatch.wave_id,
            count_if(Dispatch.status == DispatchStatus.ANSWERED),
            func.count(),
        )
        .where(*conditions)
        .group_by(Dispatch.wave_id)
    )
    rows = (await (await session.connection()).execute(statement)).all()
    return {wave_id: (int(answered), int(sent)) for wave_id, answered, sent in rows}


async def top_comments(
    session: AsyncSession,
    survey_id: str,
    period: Period,
    segment: str | None,
    stage: str,
    limit: int = 3,
    lookback: int = COMMENT_LOOKBACK,
) -> list[Comment]:
    """The stage's most recent non-empty comments, low first: those whose wave rated the
    same stage ≤ LOW_RATING or felt a negative emotion about it (a stage may be scored by
    an emotion question alone).

    Low comments are looked for among the stage's `lookback` most recent comments of the
    period: the partial index `ix_answers_comments` hands them over newest first, so the
    cost stays flat however many answers the period holds."""
    start, end = period.bounds()
    values = {"survey_id": survey_id, "stage": stage, "start": start, "end": end}
    values["segment"] = segment
    # The newest low ones first, on their own: the walk stops at the `limit`-th (~15
    # comments in, with a fifth of them low) instead of testing all `lookback` (1.25 →
    # 0.55 ms a stage at 1M answers). Only short of them, the whole ranking.
    statement = _comments_query(segment is not None, limit, lookback, low_only=True)
    connection = await session.connection()  # Core: no ORM handling of the call
    rows = (await connection.execute(statement, values)).all()
    if len(rows) < limit:
        statement = _comments_query(segment is not None, limit, lookback)
        rows = (await connection.execute(statement, values)).all()
    return [
        Comment(text, at, touchpoint, value, first == 0)
        for text, at, touchpoint, value, first in rows
    ]


@functools.cache
def _comments_query(
    by_segment: bool, limit: int, lookback: int, low_only: bool = False
) -> Select[Any]:
    """top_comments' statement, built once and bound per call (`survey_id`, `stage`,
    `start`, `end`, `segment`): a report asks it for every stage. `low_only`: the
    `limit` newest low comments among the `lookback` newest, fewer when there are not
    so many — what the whole ranking puts first."""
    stage: BindParameter[str] = bindparam("stage", type_=Answer.stage.type)
    conditions = [
        Answer.survey_id == bindparam("survey_id"),
        Answer.stage == stage,
        Answer.comment.is_not(None),  # the partial index's predicate
        Answer.answered_at >= bindparam("start"),
        Answer.answered_at < bindparam("end"),
        Answer.comment != "",
    ]
    if by_segment:
        conditions.append(Answer.segment == bindparam("segment"))
    recent = (
        select(Answer.id, Answer.dispatch_id, Answer.answered_at)
        .where(*conditions)
        .order_by(Answer.answered_at.desc(), Answer.id.desc())
        .limit(lookback)
        .subquery()
    )
    # Low or not by one EXISTS per recent comment; the rating shown is looked up for the
    # `limit` comments picked only (a second subquery per comment cost half the query).
    same_wave = aliased(Answer)
    low_answer = or_(same_wave.rating <= LOW_RATING, same_wave.valence < 0)
    is_low = exists().where(
        same_wave.dispatch_id == recent.c.dispatch_id, same_wave.stage == stage, low_answer
    )
    low = case((is_low, literal(0)), else_=literal(1)).label("low")
    picked = (
        select(recent.c.id, recent.c.dispatch_id, recent.c.answered_at, low)
        .order_by(low, recent.c.answered_at.desc(), recent.c.id.desc())
        .limit(limit)
        .subquery()
    )
    if low_only:
        # The comments walked newest first on ix_answers_comments, each tested as it
        # comes, among the `lookback` newest (read once into the IN's list; `id + 0`,
        # or SQLite looks the list's ids up one by one and tests them all).
        newest = aliased(Answer)
        low_here = exists().where(
            same_wave.dispatch_id == newest.dispatch_id, same_wave.stage == stage, low_answer
        )
        picked = (
            select(newest.id, newest.dispatch_id, newest.answered_at, literal(0).label("low"))
            .where(
                newest.survey_id == bindparam("survey_id"),
                newest.stage == stage,
                newest.comment.is_not(None),
                newest.answered_at >= bindparam("start"),
                newest.answered_at < bindparam("end"),
                (newest.id + 0).in_(select(recent.c.id)),
                low_here,
            )
            .order_by(newest.answered_at.desc(), newest.id.desc())
            .limit(limit)
            .subquery()
        )
    rated = aliased(Answer)
    rating = (
        select(func.min(rated.rating))
        .where(rated.dispatch_id == picked.c.dispatch_id, rated.stage == stage)
        .scalar_subquery()
    )
    return (
        select(Answer.comment, Answer.answered_at, Answer.touchpoint, rating, picked.c.low)
        .select_from(picked)
        .join(Answer, Answer.id == picked.c.id)
        .order_by(picked.c.low, picked.c.answered_at.desc(), picked.c.id.desc())
        .limit(limit)
    )
