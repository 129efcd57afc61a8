"""What handlers receive (as `services`): the survey services and the bot's own facts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from surveys.answers import AnswerService
from surveys.formats import moment, soon
from surveys.journeys import Journeys
from surveys.model import Survey
from surveys.open_messages import OpenMessages
from surveys.timing import SendingRules


def deep_link(bot_username: str, token: str) -> str:
    """The link a customer opens to start their journey with the bot."""
    return f"https://t.me/{bot_username}?start={token}"


@dataclass(frozen=True)
class Services:
    survey: Survey
    journeys: Journeys
    answers: AnswerService
    sessions: async_sessionmaker[AsyncSession]
    rules: SendingRules
    clock: Callable[[], datetime]
    bot_username: str
    default_locale: str
    open_messages: OpenMessages = field(default_factory=OpenMessages)

    def business(self, locale: str) -> str:
        return self.survey.text(self.survey.business or self.survey.title, locale)

    def deep_link(self, token: str) -> str:
        return deep_link(self.bot_username, token)

    def when(self, at: datetime | None, locale: str) -> str:
        """A due time as the business's local date and time, with the year and the zone."""
        if at is None:
            return ""
        return moment(at, self.rules.timezone, locale)

    def soon(self, at: datetime | None, locale: str) -> str:
        """A coming time as people say it: today at 14:00 (MSK), tomorrow at 09:00 (MSK),
        else the date as `when` writes it."""
        if at is None:
            return ""
        return soon(at, self.clock(), self.rules.timezone, locale)
