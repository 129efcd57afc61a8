"""The languages of staff and owners, kept in the database."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import TeamLanguage


async def languages(
    session: AsyncSession, user_ids: Collection[int]
) -> dict[int, tuple[str, bool]]:
    """user id → (locale, chosen with /language)."""
    rows = await session.execute(
        select(TeamLanguage.user_id, TeamLanguage.locale, TeamLanguage.chosen).where(
            TeamLanguage.user_id.in_(list(user_ids))
        )
    )
    return {user_id: (locale, chosen) for user_id, locale, chosen in rows}


async def remember(session: AsyncSession, user_id: int, locale: str, chosen: bool) -> None:
    """Telegram's language never replaces one the person chose."""
    row = await session.get(TeamLanguage, user_id)
    if row is None:
        session.add(TeamLanguage(user_id=user_id, locale=locale, chosen=chosen))
    elif chosen or not row.chosen:
        row.locale, row.chosen = locale, chosen
