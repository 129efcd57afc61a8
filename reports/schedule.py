"""The report schedule: `CJM_REPORT_CRON`, a crontab line in the business's time zone."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from apscheduler.triggers.cron import CronTrigger

# How far back to look for the latest firing: short first, so "every minute" stays cheap.
_LOOKBACKS = tuple(timedelta(days=d) for d in (1 / 24, 1, 8, 32, 367, 4 * 366))
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def crontab(expression: str, timezone: tzinfo | str) -> CronTrigger:
    """A crontab line as a trigger. Crontab counts weekdays from Sunday (0 or 7);
    APScheduler 3 counts them from Monday, so numbers are turned into names first."""
    fields = expression.split()
    if len(fields) == 5:
        fields[4] = ",".join(_weekday_names(item) for item in fields[4].split(","))
    return CronTrigger.from_crontab(" ".join(fields), timezone=timezone)


def _weekday_names(item: str) -> str:
    if item == "*" or any(char.isalpha() for char in item):
        return item  # names mean the same to both
    span, _, step = item.partition("/")
    try:
        first, _, last = span.partition("-")
        low = 0 if first == "*" else int(first)
        high = 6 if first == "*" else int(last or (6 if step else first))
        days = range(low, high + 1, int(step or 1))
    except ValueError:
        raise ValueError(f"day of week {item!r} is not a crontab day") from None
    if not 0 <= low <= high <= 7 or not days:
        raise ValueError(f"day of week {item!r} is outside 0-7 (0 and 7 are Sunday)")
    return ",".join(dict.fromkeys(_WEEKDAYS[day % 7] for day in days))


def latest_firing(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The last time the schedule fired at or before `now` (wall-clock times, so right
    across DST changes); None when it never fired in the last four years."""
    for lookback in _LOOKBACKS:
        fired: datetime | None = trigger.get_next_fire_time(None, now - lookback)
        if fired is None or fired > now:
            continue
        while True:
            following: datetime | None = trigger.get_next_fire_time(fired, fired)
            if following is None or following > now:
                return fired
            fired = following
    return None
