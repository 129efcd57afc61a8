"""Pure journey planning: order + survey + now → when each wave is due."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from surveys.conditions import Given
from surveys.model import Question, Survey, Wave
from surveys.timing import SendingRules


@dataclass(frozen=True, slots=True)
class PlannedWave:
    wave_id: str
    due_at: datetime | None  # None: skipped, it is too late to ask
    reason: str | None = None  # why it was skipped, for `cjm status`


def short_duration(span: timedelta) -> str:
    """2h, 3d2h, 1d12h30m: the survey file's own notation."""
    minutes = int(span.total_seconds()) // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    return "".join(parts) or "0m"


def too_late(wave: Wave) -> str:
    """The same words for every order, so that `cjm status` can count them together."""
    start, end = short_duration(wave.after), short_duration(wave.after + wave.expire_after)
    return f"too late when the order arrived: asked {start} to {end} after the purchase"


def plan_journey(
    survey: Survey,
    purchased_at: datetime,
    now: datetime,
    rules: SendingRules,
    busy_days: Iterable[date] = (),
) -> list[PlannedWave]:
    """One entry per wave. A wave still makes sense while it could be answered had it been
    sent on time (its moment plus its expiry): an order registered late gets it at once;
    after that it is skipped, with the reason."""
    taken = set(busy_days)
    planned = []
    for wave in survey.waves:
        ideal = purchased_at + wave.after
        if now > ideal + wave.expire_after:
            planned.append(PlannedWave(wave.id, None, too_late(wave)))
            continue
        due = rules.next_slot(max(ideal, now), taken)
        taken.add(rules.local_day(due))
        planned.append(PlannedWave(wave.id, due))
    return planned


def in_cooldown(survey: Survey, last_journey_at: datetime | None, now: datetime) -> bool:
    return last_journey_at is not None and now - last_journey_at < survey.cooldown


def first_question(wave: Wave) -> Question:
    return wave.questions[0]


def next_question(wave: Wave, after: str, answers: Mapping[str, Given]) -> Question | None:
    """The next question after `after` whose `ask_if` holds, or None when the wave is done."""
    ids = [q.id for q in wave.questions]
    for question in wave.questions[ids.index(after) + 1 :]:
        condition = question.condition
        if condition is None or condition.holds(answers):
            return question
    return None
