"""Inline keyboards: one tap per answer."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import (
    AnswerCb,
    CancelReplyCb,
    ConsentCb,
    ForgetCb,
    LanguageCb,
    ReplyCb,
    ResumeCb,
)
from bot.texts import language_name, t
from surveys.answers import SKIP
from surveys.model import Question, QuestionKind, Survey


def question_keyboard(
    survey: Survey, question: Question, dispatch_id: int, locale: str
) -> InlineKeyboardMarkup:
    """Built directly rather than with InlineKeyboardBuilder: this runs for every wave
    sent and every answer, and the builder costs 3× as much (bench/README.md)."""
    labels, width = _answer_labels(survey, question, locale)
    buttons = [
        InlineKeyboardButton(
            text=label, callback_data=AnswerCb(d=dispatch_id, q=question.id, v=value).pack()
        )
        for label, value in labels
    ]
    rows = (
        [buttons[:6], buttons[6:]] if question.kind is QuestionKind.NPS else _rows(buttons, width)
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _answer_labels(
    survey: Survey, question: Question, locale: str
) -> tuple[list[tuple[str, int]], int]:
    """(label, value) per button and the row width."""
    match question.kind:
        case QuestionKind.RATING:
            return [(f"{value} ⭐", value) for value in range(1, 6)], 5
        case QuestionKind.NPS:
            return [(str(value), value) for value in range(11)], 6
        case QuestionKind.EMOTION:
            emotions = survey.emotions
            return [
                (f"{e.emoji} {survey.text(e.label, locale)}", i) for i, e in enumerate(emotions)
            ], 2
        case QuestionKind.CHOICE:
            texts = [survey.text(o.label, locale) for o in question.options]
            return list(zip(texts, range(len(texts)), strict=True)), (
                2 if max(len(text) for text in texts) <= 16 else 1
            )
    return [(t(locale, "skip"), SKIP)], 1


def _rows(buttons: list[InlineKeyboardButton], width: int) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


def consent_keyboard(link_id: int, locale: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(
            text=t(locale, "consent_yes"), callback_data=ConsentCb(link=link_id, yes=True).pack()
        ),
        InlineKeyboardButton(
            text=t(locale, "consent_no"), callback_data=ConsentCb(link=link_id, yes=False).pack()
        ),
    ]])  # fmt: skip


def forget_keyboard(locale: str) -> InlineKeyboardMarkup:
    yes = ForgetCb(yes=True).pack()
    no = ForgetCb(yes=False).pack()
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=t(locale, "forget_yes"), callback_data=yes),
        InlineKeyboardButton(text=t(locale, "forget_no"), callback_data=no),
    ]])  # fmt: skip


def language_keyboard(locales: list[str]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for code in locales:
        builder.button(text=language_name(code), callback_data=LanguageCb(code=code))
    return builder.as_markup()


def resume_keyboard(locale: str) -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(text=t(locale, "resume_button"), callback_data=ResumeCb().pack())
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


def alert_keyboard(alert_id: int, locale: str) -> InlineKeyboardMarkup:
    data = ReplyCb(alert=alert_id).pack()
    button = InlineKeyboardButton(text=t(locale, "alert_reply_button"), callback_data=data)
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


def cancel_reply_keyboard(locale: str) -> InlineKeyboardMarkup:
    data = CancelReplyCb().pack()
    button = InlineKeyboardButton(text=t(locale, "reply_cancel_button"), callback_data=data)
    return InlineKeyboardMarkup(inline_keyboard=[[button]])
