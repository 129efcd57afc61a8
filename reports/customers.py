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

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from reports.aggregate import LOW_RATING
from reports.cells import CSAT_SATISFIED, NPS_DETRACTOR, NPS_PROMOTER
from reports.days import built_days, gaps, in_ids, in_runs, runs, with_answers
from reports.week_rollup import CUSTOMER_SUMS, split_weeks, week_runs
from storage.models import Answer, CustomerRollup, CustomerRollupWeek
from surveys.model import Survey

# The metrics a cell carries, each as (customers, Σ score, Σ score²) columns.
METRICS = ("rating", "csat", "nps", "valence", "relative")
SUM_COLUMNS = CUSTOMER_SUMS  # the columns of customer_rollups and its weeks
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


_Day = tuple[date, int]  # (day, journey)
_EARLIER_BATCH = 900  # journeys per IN list (SQLite's bound parameters)


async def _earlier(
    session: AsyncSession, survey_id: str, alone: dict[_Day, str], excluded: Collection[str]
) -> dict[_Day, tuple[int, int]]:
    """For each (day, journey) whose ratings that day are all of one stage: Σ and count of
    the journey's ratings of the other stages on its earlier days, whenever they were
    given (the comparison a stage asked alone gets)."""
    journeys = sorted({order for _, order in alone})
    last = max(day for day, _ in alone)
    ratings: dict[int, list[tuple[date, str, int]]] = {}
    conditions = [
        Answer.survey_id == survey_id,
        Answer.day < last,
        Answer.skipped.is_(False),
        Answer.rating.is_not(None),
    ]
    if excluded:
        conditions.append(Answer.question_id.not_in(sorted(excluded)))
    columns = (Answer.order_id, Answer.day, Answer.stage, Answer.rating)
    for i in range(0, len(journeys), _EARLIER_BATCH):
        chunk = in_ids(Answer.order_id, journeys[i : i + _EARLIER_BATCH])
        for order, day, stage, rating in await _fetch(
            session, select(*columns).where(chunk, *conditions)
        ):
            ratings.setdefault(order, []).append((day, stage, int(rating)))
    result = {}
    for (day, order), stage in alone.items():
        found = [r for d, s, r in ratings.get(order, ()) if d < day and s != stage]
        if found:
            result[day, order] = (sum(found), len(found))
    return result


async def _fetch(session: AsyncSession, statement: Select[*tuple[Any, ...]]) -> list[Any]:
    """Plain rows on the session's connection (Core, not the ORM's row handling)."""
    connection = await session.connection()
    return list((await connection.execute(statement)).all())


def _codes(values: Sequence[Any], *always: Any) -> tuple[list[Any], np.ndarray]:
    """The sorted distinct values (and `always`) and each value's index among them."""
    distinct = sorted(set(values).union(always))
    index = {value: i for i, value in enumerate(distinct)}
    return distinct, np.fromiter((index[v] for v in values), dtype=np.int64, count=len(values))


def _group(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    found, inverse = np.unique(keys, return_inverse=True)
    return found, inverse.reshape(-1)


def _sum(groups: np.ndarray, size: int, weights: np.ndarray) -> np.ndarray:
    return np.bincount(groups, weights=weights, minlength=size)


class _Fold:
    """The day's scored answers as arrays, folded to visits: per (day, journey, stage,
    touchpoint or '') one customer's answers of one place, per (day, journey, stage) the
    stage's visit (its touchpoints' and its own answers), per (day, journey) the ratings
    the relative score compares with."""

    def __init__(self, rows: Sequence[Any]) -> None:
        day_of, order_of, segment_of, stage_of, point_of, rating, nps, valence = zip(
            *rows, strict=True
        )
        self.days, day = _codes(day_of)
        orders, order = np.unique(np.asarray(order_of, dtype=np.int64), return_inverse=True)
        self.orders = orders.tolist()
        self.segments, segment = _codes([s or "" for s in segment_of])  # "" first: max()
        self.stages, stage = _codes(stage_of)
        self.points, point = _codes([p or "" for p in point_of], "")  # "": the stage itself
        r, p, v = (np.array(x, dtype=float) for x in (rating, nps, valence))
        has_r, has_p, has_v = ~np.isnan(r), ~np.isnan(p), ~np.isnan(v)
        self.n_stages, self.n_points = len(self.stages), len(self.points)
        journey = day * len(self.orders) + order.reshape(-1)
        self.keys, group = _group((journey * self.n_stages + stage) * self.n_points + point)
        size = len(self.keys)
        coded = np.where(p >= NPS_PROMOTER, 1.0, np.where(p <= NPS_DETRACTOR, -1.0, 0.0))
        low = (has_r & (r <= LOW_RATING)) | (has_p & (p <= NPS_DETRACTOR)) | (has_v & (v < 0))
        # Rows: Σ rating, ratings, of them 4–5, Σ coded NPS, NPS answers, Σ valence,
        # valences, low answers.
        self.sums = np.stack([
            _sum(group, size, np.where(has_r, r, 0.0)), _sum(group, size, has_r),
            _sum(group, size, has_r & (r >= CSAT_SATISFIED)),
            _sum(group, size, np.where(has_p, coded, 0.0)), _sum(group, size, has_p),
            _sum(group, size, np.where(has_v, v, 0.0)), _sum(group, size, has_v),
            _sum(group, size, low),
        ])  # fmt: skip
        self.segment = np.zeros(size, dtype=np.int64)
        np.maximum.at(self.segment, group, segment)
        self.stage_keys, self.of_stage = _group(self.keys // self.n_points)
        count = len(self.stage_keys)
        self.stage_sums = np.stack([_sum(self.of_stage, count, row) for row in self.sums])
        self.stage_segment = np.zeros(count, dtype=np.int64)
        np.maximum.at(self.stage_segment, self.of_stage, self.segment)
        self.journeys, self.of_journey = _group(self.stage_keys // self.n_stages)
        count = len(self.journeys)
        self.rated_sum = _sum(self.of_journey, count, self.stage_sums[0])
        self.rated_n = _sum(self.of_journey, count, self.stage_sums[1])
        self.before_sum = np.zeros(count)
        self.before_n = np.zeros(count)

    def alone(self) -> dict[_Day, tuple[str, int]]:
        """(day, journey) whose ratings that day are all of one stage → (that stage, the
        journey's index)."""
        rated = self.stage_sums[1] > 0
        stages_rated = _sum(self.of_journey, len(self.journeys), rated)
        result = {}
        for i in np.flatnonzero((stages_rated[self.of_journey] == 1) & rated).tolist():
            j = int(self.of_journey[i])
            day, order = divmod(int(self.journeys[j]), len(self.orders))
            stage = str(self.stages[int(self.stage_keys[i]) % self.n_stages])
            result[self.days[day], int(self.orders[order])] = (stage, j)
        return result

    def cells(self, by_segment: bool) -> list[tuple[Any, ...]]:
        n_stages, n_points = self.n_stages, self.n_points
        tp = np.flatnonzero(self.keys % n_points > 0)  # the touchpoints' own visits
        rs, rn, sat, ps, pn, vs, vn, lows = np.hstack([self.stage_sums, self.sums[:, tp]])
        journey = np.concatenate([self.of_journey, self.of_journey[self.of_stage[tp]]])
        stage = np.concatenate(
            [self.stage_keys % n_stages, (self.keys[tp] // n_points) % n_stages]
        )
        point = np.concatenate(
            [np.zeros(len(self.stage_keys), dtype=np.int64), self.keys[tp] % n_points]
        )
        segment = np.concatenate([self.stage_segment, self.segment[tp]])
        others_n = self.rated_n[journey] - rn
        before_n = self.before_n[journey]
        # The customer's other ratings that day, else (a stage asked alone that day)
        # their ratings of the other stages on the journey's earlier days.
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = rs / rn
            other = np.where(
                others_n > 0,
                (self.rated_sum[journey] - rs) / others_n,
                self.before_sum[journey] / before_n,
            )
            relative = (rn > 0) & ((others_n > 0) | (before_n > 0))
            scores = [
                (rn > 0, mean), (rn > 0, sat / rn), (pn > 0, ps / pn), (vn > 0, vs / vn),
                (relative, mean - other),
            ]  # fmt: skip
        place = stage * n_points + point
        keys, of_cell = _group(segment * n_stages * n_points + place if by_segment else place)
        n = len(keys)
        columns = [np.bincount(of_cell, minlength=n)]
        for present, score in scores:
            value = np.where(present, score, 0.0)
            columns += [
                _sum(of_cell, n, present),
                _sum(of_cell, n, value),
                _sum(of_cell, n, value * value),
            ]
        columns.append(_sum(of_cell, n, lows > 0))
        values = [
            column.astype(np.int64).tolist() if name in _COUNTED else column.tolist()
            for name, column in zip(SUM_COLUMNS, columns, strict=True)
        ]
        result = []
        for i, key in enumerate(keys.tolist()):
            head: tuple[str, ...] = (
                str(self.stages[(key // n_points) % n_stages]),
                str(self.points[key % n_points]),
            )
            if by_segment:
                head = (str(self.segments[key // (n_stages * n_points)]), *head)
            result.append((*head, *(column[i] for column in values)))
        return result


_COUNTED = frozenset(("customers", "r_n", "s_n", "p_n", "v_n", "d_n", "low"))


async def cell_rows(
    session: AsyncSession,
    survey_id: str,
    days: ColumnElement[bool],
    excluded: Collection[str],
    by_segment: bool,
) -> list[tuple[Any, ...]]:
    """(segment?, stage, touchpoint or '', *SUM_COLUMNS) over the customers of `days`: the
    stage-level cells (every answer of the stage) and the touchpoint-level ones. The
    answers are read once and folded here in numpy, by the same code for the live days
    and for the rollup, so both give the same sums (two GROUP BYs per cell level with a
    self-join each cost SQLite 3× as much over the open day's answers; a fold in Python
    objects, 5 µs an answer)."""
    statement = select(
        Answer.day, Answer.order_id, Answer.segment, Answer.stage, Answer.touchpoint,
        Answer.rating, Answer.nps, Answer.valence,
    ).where(*_scored(survey_id, days, excluded))  # fmt: skip
    rows = await _fetch(session, statement)
    if not rows:
        return []
    fold = _Fold(rows)
    alone = fold.alone()
    if alone:
        stages = {visit: stage for visit, (stage, _) in alone.items()}
        for visit, (total, count) in (
            await _earlier(session, survey_id, stages, excluded)
        ).items():
            j = alone[visit][1]
            fold.before_sum[j], fold.before_n[j] = total, count
    return fold.cells(by_segment)


def _rollup_query(
    survey_id: str, ranges: Sequence[tuple[date, date]], segment: str | None, weekly: bool
) -> Select[Any]:
    table: Any = CustomerRollupWeek if weekly else CustomerRollup
    when = table.week if weekly else table.day
    conditions = [table.survey_id == survey_id, in_runs(when, ranges)]
    if segment is not None:
        conditions.append(table.segment == segment)
    sums = (func.sum(getattr(table, name)) for name in SUM_COLUMNS)
    return (
        select(table.stage, table.touchpoint, *sums)
        .where(*conditions)
        .group_by(table.stage, table.touchpoint)
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
    # Whole weeks from the weekly level (a seventh of the rows), the other days by day.
    weeks, loose = await split_weeks(session, survey_id, built)
    for ranges, weekly in ((week_runs(weeks), True), (runs(loose), False)):
        if ranges:
            statement = _rollup_query(survey_id, ranges, segment, weekly)
            for row in (await session.execute(statement)).all():
                yield row
    for first, after in await with_answers(session, survey_id, gaps(start, end, built)):
        days = in_runs(Answer.day, [(first, after)])
        if segment is not None:
            days = and_(days, Answer.segment == segment)
        for row in await cell_rows(session, survey_id, days, excluded, by_segment=False):
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
