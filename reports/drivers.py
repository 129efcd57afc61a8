"""Key stages: how strongly a stage's rating moves the final NPS, across journeys.

For every journey (order) whose NPS was answered in the period: x = the journey's
average rating of a stage, y = its NPS. Pearson's r per stage comes from five sums,
which the database computes — per closed day into `driver_rollups` (built with the
daily rollup), and from the answers for the days still open. A journey's ratings are
looked up on the index `ix_answers_order_stage`, so the cost follows the journeys that
answered NPS in the days read, never the whole history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    delete,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from reports.aggregate import Period
from reports.days import built_days, gaps, in_runs, runs
from reports.stats import pearson
from storage.models import Answer, DriverRollup

_DRIVERS = cast(Table, DriverRollup.__table__)
_SUMS = ("n", "sx", "sy", "sxx", "syy", "sxy")


def _sums_query(survey_id: str, days: ColumnElement[bool], by_segment: bool) -> Select[Any]:
    """(segment?, stage, n, Σx, Σy, Σx², Σy², Σxy) over the journeys with an NPS in `days`."""
    nps = (
        select(Answer.order_id, func.max(Answer.segment).label("segment"),
               func.max(Answer.nps).label("y"))
        .where(Answer.survey_id == survey_id, Answer.nps.is_not(None), days)
        .group_by(Answer.order_id)
        .subquery()
    )  # fmt: skip
    # An order's answers all belong to its survey: the lookup needs no survey filter.
    ratings = (
        select(Answer.order_id, Answer.stage, func.avg(Answer.rating).label("x"))
        .where(Answer.order_id.in_(select(nps.c.order_id)), Answer.rating.is_not(None))
        .group_by(Answer.order_id, Answer.stage)
        .subquery()
    )
    x, y = ratings.c.x, nps.c.y
    keys: list[Any] = [func.coalesce(nps.c.segment, "")] if by_segment else []
    sums = (func.count(), func.sum(x), func.sum(y), func.sum(x * x), func.sum(y * y))
    return (
        select(*keys, ratings.c.stage, *sums, func.sum(x * y))
        .join(nps, nps.c.order_id == ratings.c.order_id)
        .group_by(*keys, ratings.c.stage)
    )


async def build_day(session: AsyncSession, survey_id: str, day: date) -> None:
    """Replace the day's driver sums (per segment and stage), in the caller's transaction."""
    await session.execute(
        delete(DriverRollup).where(DriverRollup.survey_id == survey_id, DriverRollup.day == day)
    )
    sums = _sums_query(survey_id, Answer.day == day, by_segment=True).subquery()
    rows = select(literal(survey_id), literal(day), *sums.c)
    columns = ["survey_id", "day", "segment", "stage", *_SUMS]
    await session.execute(insert(_DRIVERS).from_select(columns, rows))


def _rollup_query(
    survey_id: str, ranges: Sequence[tuple[date, date]], segment: str | None
) -> Select[Any]:
    conditions = [DriverRollup.survey_id == survey_id, in_runs(DriverRollup.day, ranges)]
    if segment is not None:
        conditions.append(DriverRollup.segment == segment)
    sums = (func.sum(getattr(DriverRollup, name)) for name in _SUMS)
    return select(DriverRollup.stage, *sums).where(*conditions).group_by(DriverRollup.stage)


async def nps_correlations(
    session: AsyncSession, survey_id: str, period: Period, segment: str | None = None
) -> dict[str, tuple[int, float | None]]:
    """stage → (n, Pearson's r) between a journey's average rating of the stage and its
    NPS answer, over the journeys whose NPS was answered in the period."""
    built = await built_days(session, survey_id, period.start, period.end)
    statements = [_rollup_query(survey_id, runs(built), segment)] if built else []
    for start, end in gaps(period.start, period.end, built):
        days = in_runs(Answer.day, [(start, end)])
        if segment is not None:
            days = days & (Answer.segment == segment)
        statements.append(_sums_query(survey_id, days, by_segment=False))
    totals: dict[str, list[float]] = {}
    for statement in statements:
        for stage, *sums in (await session.execute(statement)).all():
            into = totals.setdefault(str(stage), [0.0] * len(_SUMS))
            for index, value in enumerate(sums):
                into[index] += float(value or 0)
    return {
        stage: (int(n), pearson(int(n), sx, sy, sxx, syy, sxy))
        for stage, (n, sx, sy, sxx, syy, sxy) in totals.items()
    }
