"""The report's languages: which one a locale reads in, and counted nouns with their plural
forms ("1 answer, 2 answers"; "1 ответ, 2 ответа, 5 ответов, 21 ответ")."""

from __future__ import annotations

from datetime import date

from surveys.model import Survey

LANGUAGES = ("en", "ru")


def language(locale: str) -> str:
    """The language of `locale`: ru for ru, ru-RU, ru_RU…; English for every other one
    (the fallback texts)."""
    code = locale.replace("_", "-").split("-")[0].lower()
    return code if code in LANGUAGES else "en"


def russian_plural(n: int, one: str, few: str, many: str) -> str:
    """The form of a Russian noun after the number n: 1, 21, 101 → one; 2–4, 22–24 → few;
    0, 5–20, 25–30, 111–114 → many."""
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def counted(n: int, locale: str, en: tuple[str, str], ru: tuple[str, str, str]) -> str:
    """The number with its noun in the locale's plural form: 5 answers, 5 ответов."""
    if language(locale) == "ru":
        return f"{n} {russian_plural(n, *ru)}"
    return f"{n} {en[0] if n == 1 else en[1]}"


ANSWERS_EN = ("answer", "answers")
ANSWERS_RU = ("ответ", "ответа", "ответов")


def answers(n: int, locale: str) -> str:
    return counted(n, locale, ANSWERS_EN, ANSWERS_RU)


_WAVE = {"en": "Wave {n}", "ru": "Волна {n}"}


def wave_names(survey: Survey, locale: str) -> dict[str, str]:
    """wave id → how a report in `locale` names it: its title, else "Wave 2"; in the
    survey's order."""
    return {
        wave.id: survey.text(wave.title, locale)
        if wave.title
        else _WAVE[language(locale)].format(n=number)
        for number, wave in enumerate(survey.waves, start=1)
    }


def days(first: date, last: date) -> str:
    """A period as Telegram shows it: 16.11.2026–22.11.2026, or one day: 16.11.2026."""
    if first == last:
        return f"{first:%d.%m.%Y}"
    return f"{first:%d.%m.%Y}–{last:%d.%m.%Y}"
