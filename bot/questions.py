"""How a survey question looks in the chat."""

from __future__ import annotations

from html import escape

from aiogram.types import InlineKeyboardMarkup

from bot.keyboards import question_keyboard
from bot.texts import t
from surveys.messenger import Ask
from surveys.model import Question, QuestionKind, Survey

_HINTS = {
    QuestionKind.RATING: "rating_hint",
    QuestionKind.NPS: "nps_hint",
    QuestionKind.TEXT: "text_hint",
}


def question_text(ask: Ask) -> str:
    survey, locale = ask.survey, ask.locale
    lines = []
    if ask.reminder:
        lines.append(f"<i>{escape(t(locale, 'reminder'))}</i>")
    elif ask.intro:
        intro = survey.text(ask.wave.intro, locale) if ask.wave.intro else t(locale, "wave_intro")
        lines.append(f"<i>{escape(intro)}</i>")
    lines.append(f"<b>{escape(survey.text(ask.question.text, locale))}</b>")
    hint = _HINTS.get(ask.question.kind)
    if hint:
        lines.append(escape(t(locale, hint)))
    return "\n\n".join(lines)


def render(ask: Ask) -> tuple[str, InlineKeyboardMarkup]:
    keyboard = question_keyboard(ask.survey, ask.question, ask.dispatch_id, ask.locale)
    return question_text(ask), keyboard


def answered_text(
    survey: Survey, question: Question, locale: str, shown: str, skipped: bool = False
) -> str:
    """The question as it stays in the chat once answered: the keyboard gives way to the
    answer, so the conversation reads like a filled-in form."""
    answer = f"⏭ {t(locale, 'skipped')}" if skipped else f"✅ {shown}"
    return f"<b>{escape(survey.text(question.text, locale))}</b>\n\n{escape(answer)}"
