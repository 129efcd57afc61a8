"""The report's languages (those of reports/locales: which one a locale reads in) and its
common words from the catalog: "1 answer, 2 answers"; "1 ответ, 2 ответа, 5 ответов, 21 ответ"."""

from __future__ import annotations

from datetime import date

from reports.texts import language, t, tn
from surveys.model import Survey

__all__ = ["answers", "days", "language", "unknown_sends", "wave_names"]


def answers(n: int, locale: str) -> str:
    """5 answers; 1 ответ, 2 ответа, 5 ответов (thousands grouped as the locale groups them)."""
    return tn(locale, "answers", n)


def wave_names(survey: Survey, locale: str) -> dict[str, str]:
    """wave id → how a report in `locale` names it: its title, else "Wave 2"; in the
    survey's order."""
    return {
        wave.id: survey.text(wave.title, locale) if wave.title else t(locale, "wave_n", n=number)
        for number, wave in enumerate(survey.waves, start=1)
    }


def days(first: date, last: date) -> str:
    """A period as Telegram shows it: 16.11.2026–22.11.2026, or one day: 16.11.2026."""
    if first == last:
        return f"{first:%d.%m.%Y}"
    return f"{first:%d.%m.%Y}–{last:%d.%m.%Y}"


def unknown_sends(n: int, locale: str) -> str:
    """The weekly summary's line about sends whose answer from Telegram was lost."""
    return tn(locale, "unknown_sends", n)
