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


# A visit: one journey's scored answers of one cell on one day, as a list for speed
# (a report folds one per answer of its open day): [segment, Σ rating, ratings, of them
# 4–5, Σ coded NPS, NPS answers, Σ valence, valences, answered low (0/1)].
_Visit = list[Any]
_SEGMENT, _RS, _RN, _SAT, _PS, _PN, _VS, _VN, _LOW = range(9)
_Day = tuple[date, int]  # (day, journey)
_EARLIER_BATCH = 900  # journeys per query (in_ids: the ids are in its text)


def _visit(segment: str | None) -> _Visit:
    return [segment or "", 0, 0, 0, 0, 0, 0, 0, 0]


def _answer(visit: _Visit, segment: str | None, rating: int | None, nps: int | None,
            valence: int | None) -> None:  # fmt: skip
    if segment is not None and segment > visit[_SEGMENT]:
        visit[_SEGMENT] = segment  # max(segment): a journey has one
    if rating is not None:
        visit[_RS] += rating
        visit[_RN] += 1
        if rating >= CSAT_SATISFIED:
            visit[_SAT] += 1
        if rating <= LOW_RATING:
            visit[_LOW] = 1
    if nps is not None:
        if nps >= NPS_PROMOTER:
            visit[_PS] += 1
        elif nps <= NPS_DETRACTOR:
            visit[_PS] -= 1
            visit[_LOW] = 1
        visit[_PN] += 1
    if valence is not None:
        visit[_VS] += valence
        visit[_VN] += 1
        if valence < 0:
            visit[_LOW] = 1


def _merge(into: _Visit, visit: _Visit) -> None:
    into[_SEGMENT] = max(into[_SEGMENT], visit[_SEGMENT])
    for i in range(_RS, _LOW):
        into[i] += visit[i]
    into[_LOW] |= visit[_LOW]


def _add(sums: list[float], visit: _Visit, others: tuple[int, int] | None) -> None:
    """One customer's scores into a cell's sums (SUM_COLUMNS order); `others`: Σ and
    count of the ratings their relative score is against."""
    sums[0] += 1
    rn = visit[_RN]
    if rn:
        r = visit[_RS] / rn
        s = visit[_SAT] / rn
        sums[1] += 1
        sums[2] += r
        sums[3] += r * r
        sums[4] += 1
        sums[5] += s
        sums[6] += s * s
        if others is not None and others[1]:
            d = r - others[0] / others[1]
            sums[13] += 1
            sums[14] += d
            sums[15] += d * d
    if visit[_PN]:
        p = visit[_PS] / visit[_PN]
        sums[7] += 1
        sums[8] += p
        sums[9] += p * p
    if visit[_VN]:
        v = visit[_VS] / visit[_VN]
        sums[10] += 1
        sums[11] += v
        sums[12] += v * v
    sums[16] += visit[_LOW]


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


async def cell_rows(
    session: AsyncSession,
    survey_id: str,
    days: ColumnElement[bool],
    excluded: Collection[str],
    by_segment: bool,
) -> list[tuple[Any, ...]]:
    """(segment?, stage, touchpoint or '', *SUM_COLUMNS) over the customers of `days`: the
    stage-level cells (every answer of the stage) and the touchpoint-level ones. The
    answers are read once and folded here, by the same code for the live days and for
    the rollup, so both give the same sums (two GROUP BYs per cell level with a
    self-join each cost SQLite 4× as much over the open day's answers)."""
    statement = select(
        Answer.day, Answer.order_id, Answer.segment, Answer.stage, Answer.touchpoint,
        Answer.rating, Answer.nps, Answer.valence,
    ).where(*_scored(survey_id, days, excluded))  # fmt: skip
    # Per (day, journey, stage, touchpoint or None): a stage's visit is the sum of them.
    groups: dict[tuple[date, int, str, str | None], _Visit] = {}
    for day, order, segment, stage, touchpoint, rating, nps, valence in await _fetch(
        session, statement
    ):
        key = (day, order, stage, touchpoint)
        visit = groups.get(key)
        if visit is None:
            visit = groups[key] = _visit(segment)
        _answer(visit, segment, rating, nps, valence)
    stages: dict[tuple[date, int, str], _Visit] = {}
    journeys: dict[_Day, list[int]] = {}  # that day's Σ and count of ratings
    rated: dict[_Day, set[str]] = {}  # the stages the journey rated that day
    for (day, order, stage, _), visit in groups.items():
        whole = stages.get((day, order, stage))
        if whole is None:
            stages[day, order, stage] = list(visit)
        else:
            _merge(whole, visit)
        if visit[_RN]:
            rated_sums = journeys.setdefault((day, order), [0, 0])
            rated_sums[0] += visit[_RS]
            rated_sums[1] += visit[_RN]
            rated.setdefault((day, order), set()).add(stage)
    alone = {key: next(iter(s)) for key, s in rated.items() if len(s) == 1}
    before = await _earlier(session, survey_id, alone, excluded) if alone else {}
    cells: dict[tuple[str, ...], list[float]] = {}
    visits = [
        *(((day, order), (stage, ""), visit) for (day, order, stage), visit in stages.items()),
        *(
            ((day, order), (stage, touchpoint), visit)
            for (day, order, stage, touchpoint), visit in groups.items()
            if touchpoint is not None
        ),
    ]
    for journey, place, visit in visits:
        # The customer's other ratings that day, else (a stage asked alone that day)
        # their ratings of the other stages on the journey's earlier days.
        rs, rn = journeys.get(journey, (0, 0))
        others = (rs - visit[_RS], rn - visit[_RN]) if rn > visit[_RN] else before.get(journey)
        cell = (visit[_SEGMENT], *place) if by_segment else place
        totals = cells.get(cell)
        if totals is None:
            totals = cells[cell] = [0.0] * len(SUM_COLUMNS)
        _add(totals, visit, others)
    return [(*key, *sums) for key, sums in cells.items()]


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
