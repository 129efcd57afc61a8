"""The funnel's daily rollup, as the rollup job runs it: apart from reports.funnel so that
the bot's process, which runs the job, never loads the statistics (scipy) the funnel's
intervals need."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reports.days import closed_before
from storage import funnel as storage_funnel


async def refresh_funnel(
    sessions: async_sessionmaker[AsyncSession], survey_id: str, now: datetime
) -> list[date]:
    """Roll up each closed day whose waves are all settled, one day per transaction;
    returns the days built."""
    async with sessions.begin() as session:
        days = await storage_funnel.days_to_build(session, survey_id, closed_before(now))
    built = []
    for day in days:
        async with sessions.begin() as session:
            if await storage_funnel.build_day(session, survey_id, day, now):
                built.append(day)
    return built
