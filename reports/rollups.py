"""The daily rollup: each closed day's sums per report cell, kept fresh by the scheduler.

A report over twelve weeks would otherwise walk every answer of those weeks (10 M rows
take seconds even on the covering index). Once a UTC day is over, its answers no longer
change the map, so its cells are summed once into `answer_rollups` and reports read a
few thousand rollup rows for the closed days and the answers only for the days still
open (today, and yesterday during the grace hour).

A day is *built* when `rollup_days` says so. It becomes stale — read from the answers
again until it is rebuilt — when an answer lands on it after it was built (an import,
a clock set back): each refresh looks at the answers added since the last one (an id
range, cheap) for that. /forget removes comment texts only, which no rollup sum holds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Select,
    Table,
    and_,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reports.cells import SUM_FIELDS, answer_sums
from storage.models import Answer, AnswerRollup, RollupDay

log = logging.getLogger(__name__)

# An answer is stamped when its handler runs and committed moments later; a day is
# rolled up only once it has been over for this long, so no live answer lands on it.
GRACE = timedelta(hours=1)

_ROLLUPS = cast(Table, AnswerRollup.__table__)
_KEYS = ("survey_id", "day", "stage", "touchpoint", "emotion", "segment")


@dataclass(frozen=True, slots=True)
class Refreshed:
    built: list[date]  # days (re)built by this refresh
    stale: list[date]  # built days that later answers made stale (rebuilt if closed)


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
    return or_(*(and_(column >= start, column < end) for start, end in ranges))


async def built_days(session: AsyncSession, survey_id: str, start: date, end: date) -> list[date]:
    """The days of [start, end) that the rollup holds and that are not stale."""
    rows = await session.scalars(
        select(RollupDay.day)
        .where(
            RollupDay.survey_id == survey_id,
            RollupDay.day >= start,
            RollupDay.day < end,
            RollupDay.built_at.is_not(None),
        )
        .order_by(RollupDay.day)
    )
    return list(rows)


def rollup_cells_query(
    survey_id: str, ranges: Sequence[tuple[date, date]], segment: str | None
) -> Select[Any]:
    """The rollup rows of `ranges` summed per (stage, touchpoint, emotion): the same
    columns the live aggregate yields ('' read back as NULL)."""
    conditions = [AnswerRollup.survey_id == survey_id, in_runs(AnswerRollup.day, ranges)]
    if segment is not None:
        conditions.append(AnswerRollup.segment == segment)
    touchpoint = func.nullif(AnswerRollup.touchpoint, "")
    emotion = func.nullif(AnswerRollup.emotion, "")
    sums = (func.sum(getattr(AnswerRollup, name)) for name in SUM_FIELDS)
    return (
        select(AnswerRollup.stage, touchpoint, emotion, func.sum(AnswerRollup.rows), *sums)
        .where(*conditions)
        .group_by(AnswerRollup.stage, AnswerRollup.touchpoint, AnswerRollup.emotion)
    )


def _build_query(survey_id: str, day: date) -> Select[Any]:
    # GROUP BY in the report index's order (after survey_id, day): no sort.
    return (
        select(
            literal(survey_id),
            literal(day),
            Answer.stage,
            func.coalesce(Answer.touchpoint, ""),
            func.coalesce(Answer.emotion, ""),
            func.coalesce(Answer.segment, ""),
            func.count(),
            *answer_sums(),
        )
        .where(Answer.survey_id == survey_id, Answer.day == day)
        .group_by(Answer.stage, Answer.touchpoint, Answer.emotion, Answer.segment)
    )


async def build_day(
    session: AsyncSession, survey_id: str, day: date, now: datetime, last_answer_id: int
) -> int:
    """Replace the day's rollup rows in the caller's transaction; returns its answer rows."""
    await session.execute(
        delete(AnswerRollup).where(AnswerRollup.survey_id == survey_id, AnswerRollup.day == day)
    )
    columns = [*_KEYS, "rows", *SUM_FIELDS]
    await session.execute(
        insert(_ROLLUPS).from_select(columns, _build_query(survey_id, day)),
    )
    rows = await session.scalar(
        select(func.coalesce(func.sum(AnswerRollup.rows), 0)).where(
            AnswerRollup.survey_id == survey_id, AnswerRollup.day == day
        )
    )
    values = {"built_at": now, "answers": int(rows or 0), "last_answer_id": last_answer_id}
    changed = await session.execute(
        update(RollupDay)
        .where(RollupDay.survey_id == survey_id, RollupDay.day == day)
        .values(**values)
    )
    if cast(Any, changed).rowcount == 0:
        session.add(RollupDay(survey_id=survey_id, day=day, **values))
    return int(rows or 0)


async def _days_with_answers(
    session: AsyncSession, survey_id: str, after: date | None, before: date
) -> list[date]:
    """Distinct answer days in (after, before), by a loose index scan: one index seek per
    day found (a recursive query), not a walk over every answer."""
    floor = after or date.min
    first = (
        select(func.min(Answer.day))
        .where(Answer.survey_id == survey_id, Answer.day > floor, Answer.day < before)
        .scalar_subquery()
    )
    days = select(first.label("day")).cte("days", recursive=True)
    following = (
        select(func.min(Answer.day))
        .where(Answer.survey_id == survey_id, Answer.day > days.c.day, Answer.day < before)
        .scalar_subquery()
    )
    days = days.union_all(select(following).where(days.c.day.is_not(None)))
    found = await session.scalars(select(days.c.day).where(days.c.day.is_not(None)))
    return [value if isinstance(value, date) else date.fromisoformat(value) for value in found]


async def _touched_built_days(
    session: AsyncSession, survey_id: str, since_id: int, last_built: date
) -> list[date]:
    """Built days that got answers after they were built (answers.id above the
    watermark): a primary-key range, so only the answers new since the last refresh."""
    found = await session.scalars(
        select(Answer.day)
        .where(Answer.id > since_id, Answer.survey_id == survey_id, Answer.day <= last_built)
        .distinct()
    )
    return list(found)


async def _plan(
    session: AsyncSession, survey_id: str, now: datetime
) -> tuple[list[date], list[date], int]:
    """(days to build, built days now stale, the answers.id watermark to record)."""
    cutoff = closed_before(now)
    watermark = int(await session.scalar(select(func.coalesce(func.max(Answer.id), 0))) or 0)
    state = (
        await session.execute(
            select(
                func.max(RollupDay.day),
                func.coalesce(func.max(RollupDay.last_answer_id), 0),
            ).where(RollupDay.survey_id == survey_id)
        )
    ).one()
    last_known, seen_id = state
    stale: list[date] = []
    if last_known is not None and watermark > seen_id:
        # Touched days may also be days that had no answers when their neighbours were
        # built: they have no row, are read live, and are built below like new days.
        stale = await _touched_built_days(session, survey_id, int(seen_id), last_known)
        await session.execute(
            update(RollupDay)
            .where(RollupDay.survey_id == survey_id, RollupDay.day.in_(stale))
            .values(built_at=None)
        )
        # Move the watermark on even when nothing gets built, so the next refresh
        # looks only at answers newer than these.
        await session.execute(
            update(RollupDay)
            .where(RollupDay.survey_id == survey_id, RollupDay.day == last_known)
            .values(last_answer_id=watermark)
        )
    pending = await session.scalars(
        select(RollupDay.day).where(
            RollupDay.survey_id == survey_id,
            RollupDay.built_at.is_(None),
            RollupDay.day < cutoff,
        )
    )
    new = await _days_with_answers(session, survey_id, last_known, cutoff)
    closed_stale = {day for day in stale if day < cutoff}
    return sorted(set(pending) | set(new) | closed_stale), stale, watermark


async def refresh(
    sessions: async_sessionmaker[AsyncSession], survey_ids: Iterable[str], now: datetime
) -> dict[str, Refreshed]:
    """Bring the rollup up to date: each closed day not yet built (or stale) is built,
    one day per transaction so that the database is never locked for long."""
    done: dict[str, Refreshed] = {}
    for survey_id in survey_ids:
        async with sessions.begin() as session:
            days, stale, watermark = await _plan(session, survey_id, now)
        for day in days:
            async with sessions.begin() as session:
                await build_day(session, survey_id, day, now, watermark)
        if days or stale:
            log.info("rollup %s: built %d day(s), %d stale", survey_id, len(days), len(stale))
        done[survey_id] = Refreshed(days, stale)
    return done
