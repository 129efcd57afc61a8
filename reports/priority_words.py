"""The priorities (reports.priorities) in the report's language: what to fix first, each
stage's share of what moves NPS with its interval, and an honest "not yet" below the
journeys the ranking needs."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from reports.priorities import Priorities, Priority
from reports.texts import t, tn
from reports.words import language
from surveys.formats import decimal, percent


def _percent(share: float, locale: str) -> str:
    return percent(share, language(locale))


def stars(gap: float, locale: str) -> str:
    """0.4 stars, 1.0 stars; 0,4 звезды, 1,0 звезды (the decimal as shown decides the form)."""
    lang = language(locale)
    return tn(lang, "stars", Decimal(f"{gap:.1f}"), shown=decimal(gap, 1, lang))


def sentence(priority: Priority, name: str, locale: str) -> str:
    gap = (
        t(locale, "priority_below", stars=stars(priority.gap, locale))
        if priority.gap >= 0.05
        else t(locale, "priority_on_target")
    )
    return t(
        locale, "priority_stage", stage=name, share=_percent(priority.importance, locale),
        low=str(round(100 * priority.low)), high=_percent(priority.high, locale), gap=gap,
    )  # fmt: skip


def sentences(priorities: Priorities, names: Mapping[str, str], locale: str) -> list[str]:
    return [sentence(p, names.get(p.stage, p.stage), locale) for p in priorities.stages]


def headline(priorities: Priorities, names: Mapping[str, str], locale: str) -> str:
    """One line for the summary and the map: the stages to fix first, or why none."""
    if not priorities.enough:
        if 0 < priorities.needed <= priorities.journeys:  # enough answers, one stage rated
            return t(locale, "priority_one_stage")
        journeys = tn(locale, "customers", priorities.journeys)
        if priorities.days <= 0:  # a ranking built without a window (tests, ad-hoc calls)
            return t(
                locale, "priority_not_yet_no_window", journeys=journeys, needed=priorities.needed
            )
        days = tn(locale, "days", priorities.days)
        return t(
            locale, "priority_not_yet", journeys=journeys, needed=priorities.needed, days=days
        )
    first = priorities.fix_first
    if not first:
        return t(locale, "priority_nothing")
    return f"{t(locale, 'priority_first')}: " + ", ".join(
        names.get(p.stage, p.stage) for p in first[:3]
    )


def explanation(locale: str) -> str:
    return t(locale, "priority_explain")
