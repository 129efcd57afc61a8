"""The priorities (reports.priorities) in the report's language: what to fix first, each
stage's share of what moves NPS with its interval, and an honest "not yet" below the
journeys the ranking needs."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from reports.priorities import Priorities, Priority
from reports.texts import tn
from reports.words import language
from surveys.formats import decimal, percent, plural

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "stage": "{stage}: {share} of what moves NPS (90%: {low}–{high}), {gap}",
        "below": "{stars} below target",
        "on target": "at or above target",
        "first": "Fix first",
        "nothing": "No stage that moves NPS falls short of its target.",
        "not yet": (
            "What moves NPS cannot be told apart yet: {journeys} with an NPS answer "
            "in {days} ({needed} needed)."
        ),
        "not yet, no window": (
            "What moves NPS cannot be told apart yet: {journeys} with an NPS answer "
            "({needed} needed)."
        ),
        "explain": (
            "Each stage's share of the differences in customers' NPS answers that the stage "
            "ratings explain (relative weights over this period's and the previous periods' NPS "
            "answers, with a 90% bootstrap interval), and how far "
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
            "за {days} (нужно {needed})."
        ),
        "not yet, no window": (
            "Что сильнее влияет на NPS, пока не определить: {journeys} с ответом NPS "
            "(нужно {needed})."
        ),
        "explain": (
            "Доля различий в ответах клиентов на вопрос NPS, которую объясняет оценка этапа "
            "(относительные веса по ответам NPS этого и предыдущих периодов, "
            "90-процентный бутстреп-интервал), и насколько средняя "
            "оценка этапа ниже цели — большего из порога и средней по пути клиента. "
            "В первую очередь — этапы, которые заметно важнее средней доли и ниже цели."
        ),
    },
}
# How far below target, in stars: 0.4 stars, 1.0 star is not said (CLDR: a fraction is
# "other"); в русском дробное — "0,4 звезды".
STARS = {
    "en": {"one": "{n} star", "other": "{n} stars"},
    "ru": {"one": "{n} звезду", "few": "{n} звезды", "many": "{n} звёзд", "other": "{n} звезды"},
}


def _percent(share: float, locale: str) -> str:
    return percent(share, language(locale))


def stars(gap: float, locale: str) -> str:
    """0.4 stars, 1.0 stars; 0,4 звезды, 1,0 звезды (the decimal as shown decides the form)."""
    lang = language(locale)
    figure = f"{gap:.1f}"
    return plural(Decimal(figure), lang, STARS[lang], shown=decimal(gap, 1, lang))


def sentence(priority: Priority, name: str, locale: str) -> str:
    w = WORDS[language(locale)]
    gap = (
        w["below"].format(stars=stars(priority.gap, locale))
        if priority.gap >= 0.05
        else w["on target"]
    )
    return w["stage"].format(
        stage=name, share=_percent(priority.importance, locale),
        low=str(round(100 * priority.low)), high=_percent(priority.high, locale), gap=gap,
    )  # fmt: skip


def sentences(priorities: Priorities, names: Mapping[str, str], locale: str) -> list[str]:
    return [sentence(p, names.get(p.stage, p.stage), locale) for p in priorities.stages]


def headline(priorities: Priorities, names: Mapping[str, str], locale: str) -> str:
    """One line for the summary and the map: the stages to fix first, or why none."""
    w = WORDS[language(locale)]
    if not priorities.enough:
        journeys = tn(locale, "customers", priorities.journeys)
        if priorities.days <= 0:  # a ranking built without a window (tests, ad-hoc calls)
            return w["not yet, no window"].format(journeys=journeys, needed=priorities.needed)
        days = tn(locale, "days", priorities.days)
        return w["not yet"].format(journeys=journeys, needed=priorities.needed, days=days)
    first = priorities.fix_first
    if not first:
        return w["nothing"]
    return f"{w['first']}: " + ", ".join(names.get(p.stage, p.stage) for p in first[:3])


def explanation(locale: str) -> str:
    return WORDS[language(locale)]["explain"]
