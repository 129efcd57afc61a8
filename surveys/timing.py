"""When a message may go out: quiet hours in the business's timezone, one wave a day."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True, slots=True)
class QuietHours:
    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours | None:
        """`21:00-09:00`; `off` for none."""
        if text.strip().lower() in ("off", "none", ""):
            return None
        match = _WINDOW.match(text)
        if not match:
            raise ValueError(f"expected HH:MM-HH:MM or 'off', got {text!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59 or (h1, m1) == (h2, m2):
            raise ValueError(f"not a time window: {text!r}")
        return cls(time(h1, m1), time(h2, m2))

    def covers(self, moment: time) -> bool:
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True, slots=True)
class SendingRules:
    timezone: ZoneInfo
    quiet: QuietHours | None

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.timezone).date()

    def after_quiet(self, moment: datetime) -> datetime:
        """`moment`, or the end of the quiet hours it falls in."""
        local = moment.astimezone(self.timezone)
        if self.quiet is None or not self.quiet.covers(local.time()):
            return moment
        end = datetime.combine(local.date(), self.quiet.end, self.timezone)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), self.quiet.end, self.timezone)
        return end.astimezone(UTC)

    def next_slot(self, moment: datetime, busy_days: Collection[date]) -> datetime:
        """The first moment at or after `moment` outside quiet hours on a day with no wave."""
        moment = self.after_quiet(moment)
        while self.local_day(moment) in busy_days:
            next_day = self.local_day(moment) + timedelta(days=1)
            midnight = datetime.combine(next_day, time(0), self.timezone).astimezone(UTC)
            moment = self.after_quiet(midnight)
        return moment
