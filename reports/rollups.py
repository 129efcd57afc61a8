"""The daily rollup: each closed day's sums per report cell, kept fresh by the scheduler.

A report over twelve weeks would otherwise walk every answer of those weeks (10 M rows
take seconds even on the covering index). Once a UTC day is over, its answers no longer
change the map, so its cells are summed once into `answer_rollups` and reports read a
few thousand rollup rows for the closed days and the answers only for the days still
open (today, and yesterday during the grace hour).

A day is *built* when `rollup_days` says so. It becomes stale — read from the answers
again until it is rebuilt — when an answer lands on it after it was built (an import,
a clock set back): each refresh looks at the answers added since the last one (an id
range, cheap) for that. /forget removes comment texts only, which no sum here holds (the
theme counts' rollup, reports.theme_rollup, is marked stale by it).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    Select,
    Table,
    and_,
    delete,
    func,
    insert,
    literal,
    select,
    union,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from reports import customers
from reports.cells import SUM_FIELDS, answer_sums
from reports.days import closed_before
from reports.funnel_rollup import refresh_funnel
from reports.theme_rollup import mark_stale, refresh_themes
from reports.week_rollup import build_week, over_segments, unbuild_weeks, weeks_to_build
from storage.models import (
    Answer,
    AnswerRollup,
    AnswerRollupAll,
    ChoiceRollup,
    CustomerRollup,
    RollupDay,
)
from storage.statistics import keep_statistics
from surveys.model import Survey

log = logging.getLogger(__name__)

_ROLLUPS = cast(Table, AnswerRollup.__table__)
_ALL = cast(Table, AnswerRollupAll.__table__)
_CUSTOMERS = cast(Table, CustomerRollup.__table__)
_CHOICES = cast(Table, ChoiceRollup.__table__)
_KEYS = ("survey_id", "day", "stage", "touchpoint", "emotion", "segment")


@dataclass(frozen=True, slots=True)
class Refreshed:
    built: list[date]  # days (re)built by this refresh
    stale: list[date]  # built days that later answers made stale (rebuilt if closed)


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


async def _build_customers(
    session: AsyncSession, survey_id: str, day: date, excluded: Collection[str]
) -> None:
    await session.execute(
        delete(CustomerRollup).where(
            CustomerRollup.survey_id == survey_id, CustomerRollup.day == day
        )
    )
    columns = ("segment", "stage", "touchpoint", *customers.SUM_COLUMNS)
    rows = await customers.cell_rows(session, survey_id, Answer.day == day, excluded, True, day)
    if rows:
        values = [
            {"survey_id": survey_id, "day": day, **dict(zip(columns, row, strict=True))}
            for row in rows
        ]
        await session.execute(insert(_CUSTOMERS), values)


async def _build_choices(session: AsyncSession, survey_id: str, day: date) -> None:
    """The day's answers per option of each choice question (reports.themes' lanes)."""
    await session.execute(
        delete(ChoiceRollup).where(ChoiceRollup.survey_id == survey_id, ChoiceRollup.day == day)
    )
    segment = func.coalesce(Answer.segment, "")
    keys = (Answer.question_id, Answer.choice, segment)
    counted = (
        select(literal(survey_id), literal(day), *keys, func.count())
        .where(Answer.survey_id == survey_id, Answer.day == day, Answer.choice.is_not(None))
        .group_by(*keys)
    )
    columns = ["survey_id", "day", "question_id", "choice", "segment", "answers"]
    await session.execute(insert(_CHOICES).from_select(columns, counted))


async def build_day(
    session: AsyncSession,
    survey_id: str,
    day: date,
    now: datetime,
    last_answer_id: int,
    excluded: Collection[str] = (),
) -> int:
    """Replace the day's rollup rows in the caller's transaction; returns its answer rows."""
    await unbuild_weeks(session, survey_id, [day])
    await session.execute(
        delete(AnswerRollup).where(AnswerRollup.survey_id == survey_id, AnswerRollup.day == day)
    )
    columns = [*_KEYS, "rows", *SUM_FIELDS]
    await session.execute(
        insert(_ROLLUPS).from_select(columns, _build_query(survey_id, day)),
    )
    await session.execute(
        delete(AnswerRollupAll).where(
            AnswerRollupAll.survey_id == survey_id, AnswerRollupAll.day == day
        )
    )
    every = [*_KEYS[:-1], "rows", *SUM_FIELDS]  # no segment
    await session.execute(
        insert(_ALL).from_select(
            every, over_segments(AnswerRollup, AnswerRollup.day, survey_id, day)
        )
    )
    rows = await session.scalar(
        select(func.coalesce(func.sum(AnswerRollup.rows), 0)).where(
            AnswerRollup.survey_id == survey_id, AnswerRollup.day == day
        )
    )
    await _build_customers(session, survey_id, day, excluded)
    await _build_choices(session, survey_id, day)
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
    watermark): a primary-key range, so only the answers new since the last refresh.
    Also the built days after such an answer's day that hold answers of the same
    journey: a stage asked alone is compared with the journey's earlier days
    (reports.customers), so an answer landing late on an earlier day changes them."""
    new = (
        select(Answer.order_id, Answer.day)
        .where(Answer.id > since_id, Answer.survey_id == survey_id)
        .subquery()
    )
    later = aliased(Answer)
    found = await session.scalars(
        union(
            select(new.c.day).where(new.c.day <= last_built),
            select(later.day).join(
                new,
                and_(
                    later.order_id == new.c.order_id,
                    later.survey_id == survey_id,
                    later.day > new.c.day,
                    later.day <= last_built,
                ),
            ),
        )
    )
    return [value if isinstance(value, date) else date.fromisoformat(value) for value in found]


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
        await unbuild_weeks(session, survey_id, stale)
        await mark_stale(session, survey_id, int(seen_id), watermark, stale)
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
    sessions: async_sessionmaker[AsyncSession],
    survey_ids: Iterable[str],
    now: datetime,
    follow_ups: Mapping[str, Collection[str]] | None = None,
) -> dict[str, Refreshed]:
    """Bring the rollup up to date: each closed day not yet built (or stale) is built,
    one day per transaction so that the database is never locked for long; then each
    week whose seven days are built (reports.week_rollup), one per transaction.

    `follow_ups` names, per survey, the questions asked only after a low answer
    (reports.customers.follow_ups): left out of the customer-level sums."""
    done: dict[str, Refreshed] = {}
    for survey_id in survey_ids:
        async with sessions.begin() as session:
            days, stale, watermark = await _plan(session, survey_id, now)
        for day in days:
            async with sessions.begin() as session:
                excluded = (follow_ups or {}).get(survey_id, ())
                await build_day(session, survey_id, day, now, watermark, excluded)
        async with sessions.begin() as session:
            weeks = await weeks_to_build(session, survey_id)
        for week in weeks:
            async with sessions.begin() as session:
                await build_week(session, survey_id, week, now)
        if days or stale:
            log.info("rollup %s: built %d day(s), %d stale", survey_id, len(days), len(stale))
        done[survey_id] = Refreshed(days, stale)
    return done


async def refresh_survey(
    sessions: async_sessionmaker[AsyncSession], survey: Survey, now: datetime
) -> Refreshed:
    """`refresh` for one survey, its follow-up questions left out of the customer sums;
    the theme counts' rollup (reports.theme_rollup) and the funnel's
    (reports.funnel_rollup)."""
    done = await refresh(sessions, [survey.id], now, {survey.id: customers.follow_ups(survey)})
    themed = await refresh_themes(sessions, survey, now)
    if themed:
        log.info("theme rollup %s: built %d day(s)", survey.id, len(themed))
    await refresh_funnel(sessions, survey.id, now)
    if done[survey.id].built:
        # Once a day (a day is built an hour after it ends): SQLite's planner statistics
        # follow the tables' growth (storage.statistics).
        async with sessions.begin() as session:
            await keep_statistics(await session.connection())
    return done[survey.id]
