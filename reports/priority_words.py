"""The priorities (reports.priorities) in the report's language: what to fix first, each
stage's share of what moves NPS with its interval, and an honest "not yet" below the
journeys the ranking needs."""

from __future__ import annotations

from collections.abc import Mapping

from reports.priorities import Priorities, Priority
from reports.words import counted, language

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "stage": "{stage}: {share} of what moves NPS (90 %: {low}–{high}), {gap}",
        "below": "{stars} stars below target",
        "on target": "at or above target",
        "first": "Fix first",
        "nothing": "No stage that moves NPS falls short of its target.",
        "not yet": (
            "What moves NPS cannot be told apart yet: {journeys} with an NPS answer "
            "({needed} needed)."
        ),
        "explain": (
            "Each stage's share of the differences in customers' NPS answers that the stage "
            "ratings explain (relative weights, with a 90 % bootstrap interval), and how far "
            "its average rating falls short of the higher of the threshold and the journey's "
            "average. Fix first: stages that clearly matter more than an even share and fall "
            "short."
        ),
    },
    "ru": {
        "stage": "{stage}: {share} влияния на NPS (90 %: {low}–{high}), {gap}",
        "below": "на {stars} ниже цели",
        "on target": "не ниже цели",
        "first": "Исправить в первую очередь",
        "nothing": "Ни один этап, влияющий на NPS, не ниже цели.",
        "not yet": (
            "Что сильнее влияет на NPS, пока не определить: {journeys} с ответом NPS "
            "(нужно {needed})."
        ),
        "explain": (
            "Доля различий в ответах клиентов на вопрос NPS, которую объясняет оценка этапа "
            "(относительные веса, 90-процентный бутстреп-интервал), и насколько средняя "
            "оценка этапа ниже цели — большего из порога и средней по пути клиента. "
            "В первую очередь — этапы, которые заметно важнее средней доли и ниже цели."
        ),
    },
}
CUSTOMERS_EN = ("customer", "customers")
CUSTOMERS_RU = ("клиент", "клиента", "клиентов")


def _percent(share: float) -> str:
    return f"{100 * share:.0f} %"


def sentence(priority: Priority, name: str, locale: str) -> str:
    w = WORDS[language(locale)]
    gap = (
        w["below"].format(stars=f"{priority.gap:.1f}") if priority.gap >= 0.05 else w["on target"]
    )
    return w["stage"].format(
        stage=name, share=_percent(priority.importance), low=_percent(priority.low).split()[0],
        high=_percent(priority.high), gap=gap,
    )  # fmt: skip


def sentences(priorities: Priorities, names: Mapping[str, str], locale: str) -> list[str]:
    return [sentence(p, names.get(p.stage, p.stage), locale) for p in priorities.stages]


def headline(priorities: Priorities, names: Mapping[str, str], locale: str) -> str:
    """One line for the summary and the map: the stages to fix first, or why none."""
    w = WORDS[language(locale)]
    if not priorities.enough:
        journeys = counted(priorities.journeys, locale, CUSTOMERS_EN, CUSTOMERS_RU)
        return w["not yet"].format(journeys=journeys, needed=priorities.needed)
    first = priorities.fix_first
    if not first:
        return w["nothing"]
    return f"{w['first']}: " + ", ".join(names.get(p.stage, p.stage) for p in first[:3])


def explanation(locale: str) -> str:
    return WORDS[language(locale)]["explain"]
