"""Days as ranges, and which days of a survey the daily rollup holds."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, bindparam, false, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Answer, RollupDay

# An answer is stamped when its handler runs and committed moments later; a day is
# rolled up only once it has been over for this long, so no live answer lands on it.
GRACE = timedelta(hours=1)


def closed_before(now: datetime) -> date:
    """Days before this one are over (with the grace) and can be rolled up."""
    return (now.astimezone(UTC) - GRACE).date()


def runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted days as contiguous [start, end) ranges."""
    result: list[tuple[date, date]] = []
    for day in sorted(days):
        if result and result[-1][1] == day:
            result[-1] = (result[-1][0], day + timedelta(days=1))
        else:
            result.append((day, day + timedelta(days=1)))
    return result


def gaps(start: date, end: date, days: Sequence[date]) -> list[tuple[date, date]]:
    """The ranges of [start, end) not covered by `days` (sorted, all inside it)."""
    result: list[tuple[date, date]] = []
    cursor = start
    for first, after in runs(days):
        if first > cursor:
            result.append((cursor, first))
        cursor = after
    if cursor < end:
        result.append((cursor, end))
    return result


def in_runs(column: Any, ranges: Sequence[tuple[date, date]]) -> Any:
    """`column` inside one of the ranges; no range: nothing (an empty or_() is deprecated)."""
    if not ranges:
        return false()
    return or_(*(and_(column >= start, column < end) for start, end in ranges))


def in_bound_runs(column: Any, ranges: int) -> Any:
    """`column` inside one of `ranges` ranges given as bound parameters start{i}, end{i}
    (`run_values`): a statement built once per number of ranges, bound per call."""
    return or_(
        *(
            and_(
                column >= bindparam(f"start{i}", type_=column.type),
                column < bindparam(f"end{i}", type_=column.type),
            )
            for i in range(ranges)
        )
    )


def run_values(ranges: Sequence[tuple[date, date]]) -> dict[str, date]:
    """The values of `in_bound_runs`' parameters."""
    values = {}
    for i, (start, end) in enumerate(ranges):
        values[f"start{i}"], values[f"end{i}"] = start, end
    return values


def in_ids(column: Any, ids: Iterable[int]) -> Any:
    """`column IN (1, 2, …)` with the ids written into the SQL: every one is an int, so
    nothing can be injected, and thousands of them cost a string join instead of a bound
    parameter each (SQLAlchemy names and renders every expanded parameter: two thirds of
    the priorities' read of 5,000 journeys)."""
    values = ", ".join(map(str, map(int, ids)))
    return column.op("IN")(literal_column(f"({values})")) if values else false()


# The small reads below run several times a report (the map, the customer cells, the
# voice lanes): their statements are built once and run on the session's connection —
# building one, its cache key and the ORM's handling of the call cost more than SQLite's
# answer (0.5 against 0.2 ms a call, most of it in Python).


@functools.cache
def _built_days_statement() -> Select[Any]:
    day = RollupDay.day
    return (
        select(day)
        .where(
            RollupDay.survey_id == bindparam("survey_id"),
            day >= bindparam("start", type_=day.type),
            day < bindparam("end", type_=day.type),
            RollupDay.built_at.is_not(None),
        )
        .order_by(day)
    )


@functools.cache
def _probe_statement() -> Select[Any]:
    day = Answer.day
    return (
        select(Answer.id)
        .where(
            Answer.survey_id == bindparam("survey_id"),
            day >= bindparam("start", type_=day.type),
            day < bindparam("end", type_=day.type),
        )
        .limit(1)
    )


@functools.cache
def _first_statement() -> Select[Any]:
    return select(func.min(Answer.day)).where(Answer.survey_id == bindparam("survey_id"))


async def built_days(session: AsyncSession, survey_id: str, start: date, end: date) -> list[date]:
    """The days of [start, end) that the rollup holds and that are not stale."""
    connection = await session.connection()
    values = {"survey_id": survey_id, "start": start, "end": end}
    return list((await connection.execute(_built_days_statement(), values)).scalars())


async def with_answers(
    session: AsyncSession, survey_id: str, ranges: Sequence[tuple[date, date]]
) -> list[tuple[date, date]]:
    """The ranges holding at least one answer of the survey: one index seek each, so a
    period before the survey began (a baseline, last period) costs no aggregate query."""
    found = []
    connection = await session.connection()
    for start, end in ranges:
        values = {"survey_id": survey_id, "start": start, "end": end}
        if (await connection.execute(_probe_statement(), values)).first() is not None:
            found.append((start, end))
    return found


@dataclass(frozen=True, slots=True)
class FirstDay:
    """The survey's first answer day as a caller read it (None: no answer yet), handed
    to the parts of one report so that they do not each read it again."""

    day: date | None


async def first_day(session: AsyncSession, survey_id: str, known: FirstDay | None) -> date | None:
    """`known`'s day, else read now."""
    return known.day if known is not None else await first_answer_day(session, survey_id)


async def first_answer_day(session: AsyncSession, survey_id: str) -> date | None:
    """The day of the survey's first answer (None before any): one index seek. Days
    before it hold no answer, so a report reaching back past it has nothing to read."""
    connection = await session.connection()
    first = (await connection.execute(_first_statement(), {"survey_id": survey_id})).scalar()
    if first is None or isinstance(first, date):
        return first
    return date.fromisoformat(str(first))
