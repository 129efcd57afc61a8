"""Pure journey planning: order + survey + now → when each wave is due."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from surveys.conditions import Given
from surveys.model import Question, Survey, Wave
from surveys.timing import SendingRules


@dataclass(frozen=True, slots=True)
class PlannedWave:
    wave_id: str
    due_at: datetime | None  # None: skipped, it is too late to ask


def plan_journey(
    survey: Survey,
    purchased_at: datetime,
    now: datetime,
    rules: SendingRules,
    busy_days: Iterable[date] = (),
) -> list[PlannedWave]:
    """One entry per wave; a wave whose moment has passed by more than its expiry is skipped."""
    taken = set(busy_days)
    planned = []
    for wave in survey.waves:
        ideal = purchased_at + wave.after
        if now > ideal + wave.expire_after:
            planned.append(PlannedWave(wave.id, None))
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
