"""The weekly level of the daily rollup: each ISO week's sums per report cell, and its
customer-level sums (reports.customers).

A twelve-week report would otherwise sum 84 days of `answer_rollups` rows (days × cells ×
emotions × segments: ~43,000 rows for the bundled cafe survey), and grouping them is
most of what reading the map's figures costs. A week whose seven days are built is
summed once into `answer_rollup_weeks`, and its segments summed into
`answer_rollup_weeks_all` (a report of every segment groups a third of the rows there); a
report reads its whole weeks from there and only the days of broken weeks (the period's
ends, a stale day) from the daily rows.

The week is built from the daily rows, never from the answers, so it is their sum by
construction (integers: the order of the additions cannot change it). It is unbuilt in
the same transaction that rebuilds one of its days or marks one stale
(reports.rollups), so a week row is never older than its days: the reader takes a week
only when its `rollup_weeks` row exists and its seven days are built.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, delete, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from reports.cells import SUM_FIELDS
from storage.models import (
    AnswerRollup,
    AnswerRollupWeek,
    AnswerRollupWeekAll,
    CustomerRollup,
    CustomerRollupWeek,
    RollupDay,
    RollupWeek,
)

WEEK = timedelta(days=7)
_WEEKS = cast(Table, AnswerRollupWeek.__table__)
_ALL_WEEKS = cast(Table, AnswerRollupWeekAll.__table__)
_CUSTOMER_WEEKS = cast(Table, CustomerRollupWeek.__table__)
# The sums of customer_rollups and its weeks (reports.customers reads them in this order).
CUSTOMER_SUMS = (
    "customers",
    "r_n", "r_sum", "r_sq", "s_n", "s_sum", "s_sq", "p_n", "p_sum", "p_sq",
    "v_n", "v_sum", "v_sq", "d_n", "d_sum", "d_sq", "low",
)  # fmt: skip
_KEYS = ("survey_id", "week", "stage", "touchpoint", "emotion", "segment")


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def whole_weeks(days: Collection[date]) -> list[date]:
    """The Mondays of the ISO weeks all seven of whose days are in `days`."""
    have = set(days)
    mondays = {monday(day) for day in have}
    return sorted(m for m in mondays if all(m + timedelta(days=i) in have for i in range(7)))


def week_runs(weeks: Sequence[date]) -> list[tuple[date, date]]:
    """Sorted Mondays as contiguous [start, end) date ranges."""
    result: list[tuple[date, date]] = []
    for week in weeks:
        if result and result[-1][1] == week:
            result[-1] = (result[-1][0], week + WEEK)
        else:
            result.append((week, week + WEEK))
    return result


async def unbuild_weeks(session: AsyncSession, survey_id: str, days: Iterable[date]) -> None:
    """The weeks of `days` are no longer read (their days change in this transaction)."""
    weeks = sorted({monday(day) for day in days})
    if not weeks:
        return
    await session.execute(
        delete(RollupWeek).where(RollupWeek.survey_id == survey_id, RollupWeek.week.in_(weeks))
    )
    await session.execute(
        delete(AnswerRollupWeek).where(
            AnswerRollupWeek.survey_id == survey_id, AnswerRollupWeek.week.in_(weeks)
        )
    )
    await session.execute(
        delete(AnswerRollupWeekAll).where(
            AnswerRollupWeekAll.survey_id == survey_id, AnswerRollupWeekAll.week.in_(weeks)
        )
    )
    await session.execute(
        delete(CustomerRollupWeek).where(
            CustomerRollupWeek.survey_id == survey_id, CustomerRollupWeek.week.in_(weeks)
        )
    )


async def _built_days(session: AsyncSession, survey_id: str) -> list[date]:
    rows = await session.scalars(
        select(RollupDay.day).where(
            RollupDay.survey_id == survey_id, RollupDay.built_at.is_not(None)
        )
    )
    return list(rows)


async def weeks_to_build(session: AsyncSession, survey_id: str) -> list[date]:
    """Weeks whose seven days are built and that are not built themselves."""
    complete = whole_weeks(await _built_days(session, survey_id))
    built = set(
        await session.scalars(select(RollupWeek.week).where(RollupWeek.survey_id == survey_id))
    )
    return [week for week in complete if week not in built]


def _build_query(survey_id: str, week: date) -> Any:
    sums = (func.sum(getattr(AnswerRollup, name)) for name in ("rows", *SUM_FIELDS))
    keys = (AnswerRollup.stage, AnswerRollup.touchpoint, AnswerRollup.emotion)
    return (
        select(literal(survey_id), literal(week), *keys, AnswerRollup.segment, *sums)
        .where(
            AnswerRollup.survey_id == survey_id,
            AnswerRollup.day >= week,
            AnswerRollup.day < week + WEEK,
        )
        .group_by(*keys, AnswerRollup.segment)
    )


def over_segments(
    rollup: type[AnswerRollup] | type[AnswerRollupWeek], when: Any, survey_id: str, value: date
) -> Select[Any]:
    """A day's or a week's segment rows of `rollup` (`when`: its day or week column), just
    built, summed over their segments: the rows of its all-segments table."""
    sums = (func.sum(getattr(rollup, name)) for name in ("rows", *SUM_FIELDS))
    keys = (rollup.stage, rollup.touchpoint, rollup.emotion)
    return (
        select(literal(survey_id), literal(value), *keys, *sums)
        .where(rollup.survey_id == survey_id, when == value)
        .group_by(*keys)
    )


def _customer_query(survey_id: str, week: date) -> Any:
    sums = (func.sum(getattr(CustomerRollup, name)) for name in CUSTOMER_SUMS)
    keys = (CustomerRollup.segment, CustomerRollup.stage, CustomerRollup.touchpoint)
    return (
        select(literal(survey_id), literal(week), *keys, *sums)
        .where(
            CustomerRollup.survey_id == survey_id,
            CustomerRollup.day >= week,
            CustomerRollup.day < week + WEEK,
        )
        .group_by(*keys)
    )


async def build_week(session: AsyncSession, survey_id: str, week: date, now: datetime) -> bool:
    """Sum the week's daily rows in the caller's transaction; False (nothing built) when
    its seven days are no longer all built."""
    days = await session.scalar(
        select(func.count()).where(
            RollupDay.survey_id == survey_id,
            RollupDay.day >= week,
            RollupDay.day < week + WEEK,
            RollupDay.built_at.is_not(None),
        )
    )
    await unbuild_weeks(session, survey_id, [week])
    if days != 7:
        return False
    columns = [*_KEYS, "rows", *SUM_FIELDS]
    await session.execute(insert(_WEEKS).from_select(columns, _build_query(survey_id, week)))
    every = [*_KEYS[:-1], "rows", *SUM_FIELDS]  # no segment
    await session.execute(
        insert(_ALL_WEEKS).from_select(
            every, over_segments(AnswerRollupWeek, AnswerRollupWeek.week, survey_id, week)
        )
    )
    customers = ["survey_id", "week", "segment", "stage", "touchpoint", *CUSTOMER_SUMS]
    await session.execute(
        insert(_CUSTOMER_WEEKS).from_select(customers, _customer_query(survey_id, week))
    )
    session.add(RollupWeek(survey_id=survey_id, week=week, built_at=now))
    return True


@functools.cache
def _weeks_statement() -> Any:
    week = RollupWeek.week
    return select(week).where(
        RollupWeek.survey_id == bindparam("survey_id"),
        week >= bindparam("first", type_=week.type),
        week <= bindparam("last", type_=week.type),
    )


async def split_weeks(
    session: AsyncSession, survey_id: str, built: Sequence[date]
) -> tuple[list[date], list[date]]:
    """(weeks to read from the weekly rollup, the rest of the `built` days): whole weeks
    of `built` that are built themselves."""
    candidates = whole_weeks(built)
    if not candidates:
        return [], list(built)
    # Built once, run on the session's connection: a report asks it three times.
    connection = await session.connection()
    values = {"survey_id": survey_id, "first": candidates[0], "last": candidates[-1]}
    found = set((await connection.execute(_weeks_statement(), values)).scalars())
    weeks = [week for week in candidates if week in found]
    covered = {week + timedelta(days=i) for week in weeks for i in range(7)}
    return weeks, [day for day in built if day not in covered]
