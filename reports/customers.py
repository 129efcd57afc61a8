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

import functools
from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    func,
    null,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession

from reports.aggregate import LOW_RATING
from reports.cells import CSAT_SATISFIED, NPS_DETRACTOR, NPS_PROMOTER
from reports.days import (
    FirstDay,
    built_days,
    first_day,
    gaps,
    in_bound_runs,
    in_ids,
    in_runs,
    run_values,
    runs,
    with_answers,
)
from reports.week_rollup import CUSTOMER_SUMS, WEEK, split_weeks, week_runs
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


# A visit: one journey's scored answers of one cell on one day, as a list for speed
# (a report folds one per answer of its open day): [segment, Σ rating, ratings, of them
# 4–5, Σ coded NPS, NPS answers, Σ valence, valences, answered low (0/1)]. The fold
# indexes it by these positions, 0 to 8, written out: a name is a global lookup per use,
# and the fold runs ~20 of them per answer (16 instead of 23 ms for a day of 8,300
# answers).
_Visit = list[Any]
_Day = tuple[date, int]  # (day, journey)
_EARLIER_BATCH = 900  # journeys per query (in_ids: the ids are in its text)


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


_Place = tuple[date, int, str, str | None]  # (day, journey, stage, touchpoint or None)


def _visits(rows: Iterable[Sequence[Any]], one_day: date | None = None) -> dict[_Place, _Visit]:
    """The answers folded per (day, journey, stage, touchpoint or None); the day as the
    driver gave it (SQLite: its text), made a date once per distinct day — or None in
    every row, when they all are of `one_day`."""
    groups: dict[_Place, _Visit] = {}
    dates: dict[Any, date] = {} if one_day is None else {None: one_day}
    for stored, order, segment, stage, touchpoint, rating, nps, valence in rows:
        day = dates.get(stored)
        if day is None:
            day = dates[stored] = (
                stored if isinstance(stored, date) else date.fromisoformat(str(stored))
            )
        key = (day, order, stage, touchpoint)
        visit = groups.get(key)
        if visit is None:
            visit = groups[key] = [segment or "", 0, 0, 0, 0, 0, 0, 0, 0]
        elif segment is not None and segment > visit[0]:
            visit[0] = segment  # max(segment): a journey has one
        if rating is not None:
            visit[1] += rating
            visit[2] += 1
            if rating >= CSAT_SATISFIED:
                visit[3] += 1
            if rating <= LOW_RATING:
                visit[8] = 1
        if nps is not None:
            if nps >= NPS_PROMOTER:
                visit[4] += 1
            elif nps <= NPS_DETRACTOR:
                visit[4] -= 1
                visit[8] = 1
            visit[5] += 1
        if valence is not None:
            visit[6] += valence
            visit[7] += 1
            if valence < 0:
                visit[8] = 1
    return groups


def _stage_visits(
    groups: Mapping[_Place, _Visit],
) -> tuple[dict[_Place, _Visit], dict[_Day, list[int]], dict[_Day, str]]:
    """(a stage's visits: its touchpoints' and its own answers, keyed with touchpoint "";
    per (day, journey) the Σ and count of that day's ratings; the (day, journey)s whose
    ratings that day are all of one stage → that stage)."""
    stages: dict[_Place, _Visit] = {}
    journeys: dict[_Day, list[int]] = {}
    rated: dict[_Day, str] = {}  # its one stage rated, or "" once it rated two
    # The merge of two visits written out, as the fold in _visits is: this runs once
    # per visit of the open day.
    for (day, order, stage, _), visit in groups.items():
        place = (day, order, stage, "")
        whole = stages.get(place)
        if whole is None:
            stages[place] = visit.copy()
        else:
            whole[0] = max(whole[0], visit[0])  # a journey has one segment
            whole[1] += visit[1]
            whole[2] += visit[2]
            whole[3] += visit[3]
            whole[4] += visit[4]
            whole[5] += visit[5]
            whole[6] += visit[6]
            whole[7] += visit[7]
            whole[8] |= visit[8]
        if visit[2]:
            journey = (day, order)
            sums = journeys.get(journey)
            if sums is None:
                journeys[journey] = [visit[1], visit[2]]
                rated[journey] = stage
            else:
                sums[0] += visit[1]
                sums[1] += visit[2]
                if rated[journey] != stage:
                    rated[journey] = ""
    alone = {key: stage for key, stage in rated.items() if stage}
    return stages, journeys, alone


def _add_visits(
    cells: dict[tuple[str, ...], list[float]],
    visits: Iterable[tuple[_Place, _Visit]],
    journeys: Mapping[_Day, list[int]],
    before: Mapping[_Day, tuple[int, int]],
    by_segment: bool,
) -> None:
    """Each visit's customer scores into its cell's sums (SUM_COLUMNS order); a visit
    without a touchpoint (None: the stage's own answers) is in its stage's visit."""
    width = len(SUM_COLUMNS)
    none = (0, 0)
    for (day, order, stage, point), visit in visits:
        if point is None:
            continue
        cell = (visit[0], stage, point) if by_segment else (stage, point)
        sums = cells.get(cell)
        if sums is None:
            sums = cells[cell] = [0.0] * width
        sums[0] += 1
        rn = visit[2]
        if rn:
            rs = visit[1]
            r = rs / rn
            s = visit[3] / rn
            sums[1] += 1
            sums[2] += r
            sums[3] += r * r
            sums[4] += 1
            sums[5] += s
            sums[6] += s * s
            # The customer's other ratings that day, else (a stage asked alone that day)
            # their ratings of the other stages on the journey's earlier days.
            js, jn = journeys.get((day, order), none)
            if jn > rn:
                d = r - (js - rs) / (jn - rn)
                sums[13] += 1
                sums[14] += d
                sums[15] += d * d
            elif before:
                earlier = before.get((day, order))
                if earlier is not None and earlier[1]:
                    d = r - earlier[0] / earlier[1]
                    sums[13] += 1
                    sums[14] += d
                    sums[15] += d * d
        pn = visit[5]
        if pn:
            p = visit[4] / pn
            sums[7] += 1
            sums[8] += p
            sums[9] += p * p
        vn = visit[7]
        if vn:
            v = visit[6] / vn
            sums[10] += 1
            sums[11] += v
            sums[12] += v * v
        sums[16] += visit[8]


async def cell_rows(
    session: AsyncSession,
    survey_id: str,
    days: ColumnElement[bool],
    excluded: Collection[str],
    by_segment: bool,
    one_day: date | None = None,
) -> list[tuple[Any, ...]]:
    """(segment?, stage, touchpoint or '', *SUM_COLUMNS) over the customers of `days`: the
    stage-level cells (every answer of the stage) and the touchpoint-level ones. The
    answers are read once and folded here, by the same code for the live days and for
    the rollup, so both give the same sums (two GROUP BYs per cell level with a
    self-join each cost SQLite 4× as much over the open day's answers)."""
    # The day uncoerced: SQLAlchemy's text-to-date per row was a third of this read on
    # SQLite (the day's ~8,000 answers hold one day); _visits makes one date per day.
    # Not read at all when `days` is `one_day`, nor the segment when the cells are not
    # by segment: NULL costs the driver no object per row, a text one each (the open
    # day's read 12.1 → 9.7 ms of CPU on the 1M bench).
    day = null() if one_day is not None else type_coerce(Answer.day, String)
    statement = select(
        day, Answer.order_id, Answer.segment if by_segment else null(), Answer.stage,
        Answer.touchpoint, Answer.rating, Answer.nps, Answer.valence,
    ).where(*_scored(survey_id, days, excluded))  # fmt: skip
    groups = _visits(await _fetch(session, statement), one_day)
    stages, journeys, alone = _stage_visits(groups)
    before = await _earlier(session, survey_id, alone, excluded) if alone else {}
    cells: dict[tuple[str, ...], list[float]] = {}
    _add_visits(cells, stages.items(), journeys, before, by_segment)
    _add_visits(cells, groups.items(), journeys, before, by_segment)
    return [(*key, *sums) for key, sums in cells.items()]


@functools.lru_cache(maxsize=64)
def _rollup_query(ranges: int, by_segment: bool, weekly: bool) -> Select[Any]:
    """Built once per shape, bound per call (`survey_id`, `segment`, run_values): a
    report asks it for up to nine periods."""
    table: Any = CustomerRollupWeek if weekly else CustomerRollup
    when = table.week if weekly else table.day
    conditions = [table.survey_id == bindparam("survey_id"), in_bound_runs(when, ranges)]
    if by_segment:
        conditions.append(table.segment == bindparam("segment"))
    sums = (func.sum(getattr(table, name)) for name in SUM_COLUMNS)
    return (
        select(table.stage, table.touchpoint, *sums)
        .where(*conditions)
        .group_by(table.stage, table.touchpoint)
    )


async def _rows(
    session: AsyncSession,
    survey_id: str,
    period: tuple[date, date],
    rolled: _Rolled,
    segment: str | None,
    excluded: Collection[str],
) -> AsyncIterator[Any]:
    start, end = period
    # Whole weeks from the weekly level (a seventh of the rows), the other days by day.
    weeks = [week for week in rolled.weeks if start <= week and week + WEEK <= end]
    covered = {week + timedelta(days=i) for week in weeks for i in range(7)}
    built = [day for day in rolled.days if start <= day < end]
    loose = [day for day in built if day not in covered]
    for ranges, weekly in ((week_runs(weeks), True), (runs(loose), False)):
        if ranges:
            statement = _rollup_query(len(ranges), segment is not None, weekly)
            values = {"survey_id": survey_id, "segment": segment, **run_values(ranges)}
            for row in (await (await session.connection()).execute(statement, values)).all():
                yield row
    # Days before the survey's first answer hold none: no probe for them (a report's
    # baseline and τ² periods reach back months before a new shop's first answer).
    unbuilt = [
        (max(first, rolled.first), after)
        for first, after in gaps(start, end, built)
        if rolled.first is not None and after > rolled.first
    ]
    for first, after in await with_answers(session, survey_id, unbuilt):
        days = in_runs(Answer.day, [(first, after)])
        if segment is not None:
            days = and_(days, Answer.segment == segment)
        single = first if after - first == timedelta(days=1) else None
        for row in await cell_rows(session, survey_id, days, excluded, False, single):
            yield row


@dataclass(frozen=True, slots=True)
class _Rolled:
    """What the rollup holds over a span of days, read once for all its periods."""

    days: list[date]  # built (not stale) days
    weeks: list[date]  # Mondays of whole built weeks the weekly level holds
    first: date | None  # the survey's first answer day (None: no answer yet)


async def _rolled(
    session: AsyncSession, survey_id: str, start: date, end: date, first: FirstDay | None
) -> _Rolled:
    days = await built_days(session, survey_id, start, end)
    weeks, _ = await split_weeks(session, survey_id, days)
    return _Rolled(days, weeks, await first_day(session, survey_id, first))


async def customer_periods(
    session: AsyncSession,
    survey_id: str,
    periods: Sequence[tuple[date, date]],
    segment: str | None = None,
    excluded: Collection[str] = (),
    first: FirstDay | None = None,
) -> list[CustomerCells]:
    """`customer_cells` of each [start, end) period, the rollup's days and weeks read once
    for them all (a report reads its period and up to eight before it). `first`: the
    survey's first answer day, when the caller has read it."""
    if not periods:
        return []
    span = (min(start for start, _ in periods), max(end for _, end in periods))
    rolled = await _rolled(session, survey_id, *span, first)
    result = []
    for period in periods:
        stages: dict[str, CustomerFigures] = {}
        touchpoints: dict[tuple[str, str], CustomerFigures] = {}
        async for stage, touchpoint, *sums in _rows(
            session, survey_id, period, rolled, segment, excluded
        ):
            figures = CustomerFigures.from_sums(sums)
            if touchpoint:
                key = (str(stage), str(touchpoint))
                touchpoints[key] = touchpoints.get(key, CustomerFigures()) + figures
            else:
                stages[str(stage)] = stages.get(str(stage), CustomerFigures()) + figures
        result.append(CustomerCells(stages, touchpoints))
    return result


async def customer_cells(
    session: AsyncSession,
    survey_id: str,
    start: date,
    end: date,
    segment: str | None = None,
    excluded: Collection[str] = (),
) -> CustomerCells:
    """Customer-level sums per stage and touchpoint over the days [start, end): closed days
    from `customer_rollups` (whole weeks from its weekly level), the others from the
    answers."""
    (cells,) = await customer_periods(session, survey_id, [(start, end)], segment, excluded)
    return cells


def total(figures: Iterable[CustomerFigures]) -> CustomerFigures:
    result = CustomerFigures()
    for item in figures:
        result = result + item
    return result
