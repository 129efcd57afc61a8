"""The report's languages: which one a locale reads in, and counted nouns with their plural
forms ("1 answer, 2 answers"; "1 ответ, 2 ответа, 5 ответов, 21 ответ")."""

from __future__ import annotations

from datetime import date

from surveys.formats import plural
from surveys.model import Survey

LANGUAGES = ("en", "ru")


def language(locale: str) -> str:
    """The language of `locale`: ru for ru, ru-RU, ru_RU…; English for every other one
    (the fallback texts)."""
    code = locale.replace("_", "-").split("-")[0].lower()
    return code if code in LANGUAGES else "en"


def counted(n: int, locale: str, en: tuple[str, str], ru: tuple[str, str, str]) -> str:
    """The number with its noun in the locale's plural form (Babel's CLDR rules): 5 answers,
    1 ответ, 2 ответа, 5 ответов; thousands grouped as the locale groups them."""
    if language(locale) == "ru":
        one, few, many = ru
        forms = {"one": f"{{n}} {one}", "few": f"{{n}} {few}", "many": f"{{n}} {many}"}
        return plural(n, "ru", forms | {"other": f"{{n}} {few}"})
    return plural(n, "en", {"one": f"{{n}} {en[0]}", "other": f"{{n}} {en[1]}"})


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


QUESTIONS_EN = ("question", "questions")
QUESTIONS_RU = ("вопрос", "вопроса", "вопросов")


def unknown_sends(n: int, locale: str) -> str:
    """The weekly summary's line about sends whose answer from Telegram was lost."""
    questions = counted(n, locale, QUESTIONS_EN, QUESTIONS_RU)
    if language(locale) == "ru":
        verb = plural(n, "ru", {"one": "мог", "other": "могли"})
        return (
            f"⚠️ {questions} {verb} не дойти до клиентов (ответ Telegram потерялся). "
            "Список и повторная отправка: cjm waves resend --unknown"
        )
    return (
        f"⚠️ {questions} may not have reached customers (Telegram's answer was lost). "
        "To list and resend them: cjm waves resend --unknown"
    )
