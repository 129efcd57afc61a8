"""Inline keyboards: one tap per answer."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import AnswerCb, ConsentCb, ForgetCb, LanguageCb, ResumeCb
from bot.texts import LANGUAGE_NAMES, t
from surveys.answers import SKIP
from surveys.model import Question, QuestionKind, Survey


def question_keyboard(
    survey: Survey, question: Question, dispatch_id: int, locale: str
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()

    def add(label: str, value: int) -> None:
        builder.button(text=label, callback_data=AnswerCb(d=dispatch_id, q=question.id, v=value))

    match question.kind:
        case QuestionKind.RATING:
            for value in range(1, 6):
                add(f"{value} ⭐", value)
            builder.adjust(5)
        case QuestionKind.NPS:
            for value in range(11):
                add(str(value), value)
            builder.adjust(6, 5)
        case QuestionKind.EMOTION:
            for index, emotion in enumerate(survey.emotions):
                add(f"{emotion.emoji} {survey.text(emotion.label, locale)}", index)
            builder.adjust(2)
        case QuestionKind.CHOICE:
            labels = [survey.text(o.label, locale) for o in question.options]
            for index, label in enumerate(labels):
                add(label, index)
            builder.adjust(2 if max(len(label) for label in labels) <= 16 else 1)
        case QuestionKind.TEXT:
            add(t(locale, "skip"), SKIP)
    return builder.as_markup()


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
        builder.button(text=LANGUAGE_NAMES.get(code, code), callback_data=LanguageCb(code=code))
    return builder.as_markup()


def resume_keyboard(locale: str) -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(text=t(locale, "resume_button"), callback_data=ResumeCb().pack())
    return InlineKeyboardMarkup(inline_keyboard=[[button]])
