"""Customer-level sums of a map cell: the customer (journey) is the unit, not the answer.

A customer who answers three rating questions about one stage is one customer with one
score — the mean of their three ratings — not three independent answers. Every test and
interval of the map's verdicts (reports.evidence) is built from these sums:

- per (journey, cell): the customer's mean rating, share of ratings of 4–5 (CSAT),
  coded NPS (+1 promoter, 0 passive, −1 detractor) and mean emotion valence;
- per cell: for each of those, the number of customers, the sum of their scores and the
  sum of the squared scores (so the variance *between customers* is known);
- "relative": the customer's mean rating of the cell minus the mean of their other
  ratings the same day — a paired difference, so a stage worse than the rest of the same
  customers' journey shows even when it is above the absolute thresholds. A stage asked
  alone that day (a wave of its own, 14 days after the purchase) is compared with the
  customer's ratings of the other stages on the journey's earlier days instead: only
  earlier ones, so a day's sums never change when the journey's later waves are answered.

A journey's answers are grouped per UTC day (waves of one journey come days apart), so
the sums add up over days and can be rolled up per day like the answer sums. Follow-up
questions asked only after a low answer (`ask_if: q <= 3`) are left out: they are
selected on a problem and would bias any comparison.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from reports.aggregate import LOW_RATING
from reports.cells import CSAT_SATISFIED, NPS_DETRACTOR, NPS_PROMOTER
from reports.days import built_days, gaps, in_runs, runs, with_answers
from storage.models import Answer, CustomerRollup
from surveys.model import Survey

# The metrics a cell carries, each as (customers, Σ score, Σ score²) columns.
METRICS = ("rating", "csat", "nps", "valence", "relative")
SUM_COLUMNS = (
    "customers",
    "r_n", "r_sum", "r_sq", "s_n", "s_sum", "s_sq", "p_n", "p_sum", "p_sq",
    "v_n", "v_sum", "v_sq", "d_n", "d_sum", "d_sq", "low",
)  # fmt: skip
_PREFIX = {"rating": "r", "csat": "s", "nps": "p", "valence": "v", "relative": "d"}


@dataclass(frozen=True, slots=True)
class Moments:
    """n customer scores summed, and summed squared."""

    n: int = 0
    total: float = 0.0
    squares: float = 0.0

    def __add__(self, other: Moments) -> Moments:
        return Moments(self.n + other.n, self.total + other.total, self.squares + other.squares)

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    @property
    def variance(self) -> float | None:
        """Sample variance between customers (n − 1); None below two customers."""
        if self.n < 2:
            return None
        mean = self.total / self.n
        return max(0.0, (self.squares - self.n * mean * mean) / (self.n - 1))


@dataclass(frozen=True, slots=True)
class CustomerFigures:
    customers: int = 0  # customers with at least one scored answer in the cell
    rating: Moments = field(default_factory=Moments)  # mean rating per customer, 1–5
    csat: Moments = field(default_factory=Moments)  # share of 4–5 per customer, 0–1
    nps: Moments = field(default_factory=Moments)  # coded NPS per customer, −1…1
    valence: Moments = field(default_factory=Moments)  # mean valence per customer, −2…2
    relative: Moments = field(default_factory=Moments)  # rating minus their other ratings
    # Customers who answered the cell low: a rating ≤ LOW_RATING, a negative emotion or
    # an NPS of a detractor (the map's "unhappy customers" that theme shares are of).
    low: int = 0

    def __add__(self, other: CustomerFigures) -> CustomerFigures:
        return CustomerFigures(
            self.customers + other.customers,
            self.rating + other.rating,
            self.csat + other.csat,
            self.nps + other.nps,
            self.valence + other.valence,
            self.relative + other.relative,
            self.low + other.low,
        )

    def metric(self, name: str) -> Moments:
        value: Moments = getattr(self, name)
        return value

    @classmethod
    def from_sums(cls, sums: Sequence[Any]) -> CustomerFigures:
        values = dict(zip(SUM_COLUMNS, (float(v or 0) for v in sums), strict=True))
        moments = [
            Moments(int(values[f"{p}_n"]), values[f"{p}_sum"], values[f"{p}_sq"])
            for p in (_PREFIX[m] for m in METRICS)
        ]
        rating, csat, nps, valence, relative = moments
        low = int(values["low"])
        return cls(int(values["customers"]), rating, csat, nps, valence, relative, low)


@dataclass(frozen=True, slots=True)
class CustomerCells:
    stages: dict[str, CustomerFigures] = field(default_factory=dict)
    touchpoints: dict[tuple[str, str], CustomerFigures] = field(default_factory=dict)

    def __add__(self, other: CustomerCells) -> CustomerCells:
        """Two periods' sums as one (their customers are told apart by the day)."""
        stages = dict(self.stages)
        for stage, figures in other.stages.items():
            stages[stage] = stages.get(stage, CustomerFigures()) + figures
        touchpoints = dict(self.touchpoints)
        for key, figures in other.touchpoints.items():
            touchpoints[key] = touchpoints.get(key, CustomerFigures()) + figures
        return CustomerCells(stages, touchpoints)


def follow_ups(survey: Survey) -> frozenset[str]:
    """Questions asked only after a low answer: an `ask_if` with `<` or `<=`."""
    return frozenset(
        question.id
        for wave in survey.waves
        for question in wave.questions
        if question.ask_if is not None and "<" in question.ask_if
    )


def _as_float(expression: ColumnElement[Any]) -> ColumnElement[float]:
    return cast(expression, Float)


def _scored(
    survey_id: str, days: ColumnElement[bool], excluded: Collection[str]
) -> list[ColumnElement[bool]]:
    conditions = [
        Answer.survey_id == survey_id,
        days,
        Answer.skipped.is_(False),
        or_(Answer.rating.is_not(None), Answer.nps.is_not(None), Answer.valence.is_not(None)),
    ]
    if excluded:
        conditions.append(Answer.question_id.not_in(sorted(excluded)))
    return conditions


def _journey_days(conditions: Sequence[ColumnElement[bool]]) -> Any:
    """Each journey's ratings per day: the 'other answers' of the relative score."""
    return (
        select(
            Answer.day,
            Answer.order_id,
            func.sum(Answer.rating).label("rs"),
            func.count(Answer.rating).label("rn"),
        )
        .where(*conditions)
        .group_by(Answer.day, Answer.order_id)
        .subquery()
    )


def _earlier_days(survey_id: str, conditions: Sequence[ColumnElement[bool]],
                  excluded: Collection[str]) -> Any:  # fmt: skip
    """For each (day, journey) whose ratings that day are all of one stage: the sum and
    count of the journey's ratings of the other stages on its earlier days, whenever they
    were given (the comparison a stage asked alone gets)."""
    alone = (
        select(Answer.day, Answer.order_id, func.min(Answer.stage).label("stage"))
        .where(*conditions, Answer.rating.is_not(None))
        .group_by(Answer.day, Answer.order_id)
        .having(func.count(func.distinct(Answer.stage)) == 1)
        .subquery()
    )
    before = aliased(Answer)
    earlier = [
        before.order_id == alone.c.order_id,
        before.survey_id == survey_id,
        before.day < alone.c.day,
        before.stage != alone.c.stage,
        before.skipped.is_(False),
        before.rating.is_not(None),
    ]
    if excluded:
        earlier.append(before.question_id.not_in(sorted(excluded)))
    return (
        select(
            alone.c.day,
            alone.c.order_id,
            func.sum(before.rating).label("rs"),
            func.count(before.rating).label("rn"),
        )
        .select_from(alone.join(before, and_(*earlier)))
        .group_by(alone.c.day, alone.c.order_id)
        .subquery()
    )


def _per_customer(conditions: Sequence[ColumnElement[bool]], by_touchpoint: bool) -> Any:
    satisfied = case((Answer.rating >= CSAT_SATISFIED, 1.0), (Answer.rating.is_not(None), 0.0))
    coded = case(
        (Answer.nps >= NPS_PROMOTER, 1.0),
        (Answer.nps <= NPS_DETRACTOR, -1.0),
        (Answer.nps.is_not(None), 0.0),
    )
    low = or_(Answer.rating <= LOW_RATING, Answer.valence < 0, Answer.nps <= NPS_DETRACTOR)
    keys: list[Any] = [Answer.day, Answer.order_id, Answer.stage]
    where = list(conditions)
    if by_touchpoint:
        keys.append(Answer.touchpoint)
        where.append(Answer.touchpoint.is_not(None))
    touchpoint = Answer.touchpoint if by_touchpoint else literal("")
    return (
        select(
            Answer.day,
            Answer.order_id,
            func.coalesce(func.max(Answer.segment), "").label("segment"),
            Answer.stage,
            touchpoint.label("touchpoint"),
            _as_float(func.avg(Answer.rating)).label("r"),
            func.sum(Answer.rating).label("rs"),
            func.count(Answer.rating).label("rn"),
            _as_float(func.avg(satisfied)).label("s"),
            _as_float(func.avg(coded)).label("p"),
            _as_float(func.avg(Answer.valence)).label("v"),
            func.max(case((low, 1), else_=0)).label("low"),
        )
        .where(*where)
        .group_by(*keys)
        .subquery()
    )


def _moments(value: ColumnElement[Any]) -> tuple[ColumnElement[Any], ...]:
    # coalesce: a cell where no customer had this score sums to NULL otherwise.
    return (
        func.count(value),
        func.coalesce(func.sum(value), 0.0),
        func.coalesce(func.sum(value * value), 0.0),
    )


def _cells_query(
    survey_id: str,
    days: ColumnElement[bool],
    excluded: Collection[str],
    by_touchpoint: bool,
    by_segment: bool,
) -> Select[Any]:
    """(segment?, stage, touchpoint or '', *SUM_COLUMNS) over the customers of `days`."""
    conditions = _scored(survey_id, days, excluded)
    journey = _journey_days(conditions)
    per = _per_customer(conditions, by_touchpoint)
    earlier = _earlier_days(survey_id, conditions, excluded)
    others = journey.c.rn - per.c.rn
    relative = case(
        (
            and_(per.c.rn > 0, others > 0),
            per.c.r - _as_float(journey.c.rs - per.c.rs) / _as_float(others),
        ),
        (
            and_(per.c.rn > 0, earlier.c.rn > 0),
            per.c.r - _as_float(earlier.c.rs) / _as_float(earlier.c.rn),
        ),
    )
    keys: list[Any] = [per.c.segment] if by_segment else []
    keys += [per.c.stage, per.c.touchpoint]
    sums = (
        func.count(),
        *_moments(per.c.r),
        *_moments(per.c.s),
        *_moments(per.c.p),
        *_moments(per.c.v),
        *_moments(relative),
        func.coalesce(func.sum(per.c.low), 0),
    )
    joined = and_(journey.c.day == per.c.day, journey.c.order_id == per.c.order_id)
    before = and_(earlier.c.day == per.c.day, earlier.c.order_id == per.c.order_id)
    visits = per.join(journey, joined).outerjoin(earlier, before)
    return select(*keys, *sums).select_from(visits).group_by(*keys)


def cells_queries(
    survey_id: str, days: ColumnElement[bool], excluded: Collection[str], by_segment: bool
) -> list[Select[Any]]:
    """The stage-level and the touchpoint-level query (touchpoint '' for a stage)."""
    return [
        _cells_query(survey_id, days, excluded, by_touchpoint, by_segment)
        for by_touchpoint in (False, True)
    ]


def _rollup_query(
    survey_id: str, ranges: Sequence[tuple[date, date]], segment: str | None
) -> Select[Any]:
    conditions = [CustomerRollup.survey_id == survey_id, in_runs(CustomerRollup.day, ranges)]
    if segment is not None:
        conditions.append(CustomerRollup.segment == segment)
    sums = (func.sum(getattr(CustomerRollup, name)) for name in SUM_COLUMNS)
    return (
        select(CustomerRollup.stage, CustomerRollup.touchpoint, *sums)
        .where(*conditions)
        .group_by(CustomerRollup.stage, CustomerRollup.touchpoint)
    )


async def _rows(
    session: AsyncSession,
    survey_id: str,
    start: date,
    end: date,
    segment: str | None,
    excluded: Collection[str],
) -> AsyncIterator[Any]:
    built = await built_days(session, survey_id, start, end)
    if built:
        for row in (await session.execute(_rollup_query(survey_id, runs(built), segment))).all():
            yield row
    for first, after in await with_answers(session, survey_id, gaps(start, end, built)):
        days = in_runs(Answer.day, [(first, after)])
        if segment is not None:
            days = and_(days, Answer.segment == segment)
        for statement in cells_queries(survey_id, days, excluded, by_segment=False):
            for row in (await session.execute(statement)).all():
                yield row


async def customer_cells(
    session: AsyncSession,
    survey_id: str,
    start: date,
    end: date,
    segment: str | None = None,
    excluded: Collection[str] = (),
) -> CustomerCells:
    """Customer-level sums per stage and touchpoint over the days [start, end): closed days
    from `customer_rollups`, the others from the answers."""
    stages: dict[str, CustomerFigures] = {}
    touchpoints: dict[tuple[str, str], CustomerFigures] = {}
    async for stage, touchpoint, *sums in _rows(session, survey_id, start, end, segment, excluded):
        figures = CustomerFigures.from_sums(sums)
        if touchpoint:
            key = (str(stage), str(touchpoint))
            touchpoints[key] = touchpoints.get(key, CustomerFigures()) + figures
        else:
            stages[str(stage)] = stages.get(str(stage), CustomerFigures()) + figures
    return CustomerCells(stages, touchpoints)


def total(figures: Iterable[CustomerFigures]) -> CustomerFigures:
    result = CustomerFigures()
    for item in figures:
        result = result + item
    return result
