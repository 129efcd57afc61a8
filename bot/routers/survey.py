"""Answers: a tap on a question's keyboard, or a free-text comment."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiogram import Router
from aiogram.enums import ParseMode
from aiogram.filters import Command
from aiogram.methods import EditMessageReplyMarkup, SendMessage
from aiogram.types import CallbackQuery, Message, Update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts import AlertDesk
from bot.callbacks import AnswerCb, answer_offered
from bot.middlewares import Replies
from bot.questions import answered_text, render
from bot.roles import Role
from bot.services import Services
from bot.texts import t, tn
from storage import answers
from surveys import alerts
from surveys.answers import MAX_COMMENT, Outcome, Recorded, Resumed
from surveys.formats import number
from surveys.messenger import Ask
from surveys.model import QuestionKind

_TOASTS = {
    Outcome.ALREADY_ANSWERED: "already_answered",
    Outcome.CLOSED: "closed",
    Outcome.FORGED: "not_yours",
}


async def is_comment(message: Message) -> bool:
    """Plain text that is not a command (async: sync filters run in a thread)."""
    return bool(message.text) and not message.text.startswith("/")  # type: ignore[union-attr]


async def on_tap(
    query: CallbackQuery,
    callback_data: AnswerCb,
    session: AsyncSession,
    services: Services,
    alert_desk: AlertDesk,
    replies: Replies,
    now: datetime,
    locale: str,
) -> Outcome:
    result = await services.answers.tap(
        session, query.from_user.id, callback_data.d, callback_data.q, callback_data.v, now
    )
    if result.outcome is not Outcome.RECORDED:
        toast = t(result.locale if result.question else locale, _TOASTS[result.outcome])
        replies.add(query.answer(toast))
        return result.outcome
    assert result.question is not None
    text = answered_text(
        services.survey, result.question, result.locale, result.shown, result.skipped
    )
    if isinstance(query.message, Message):  # not an old one Telegram no longer shows
        replies.add(query.message.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=None))
    replies.add(query.answer())
    _continue(result, replies, services, query.from_user.id)
    if result.alert is not None:
        replies.after(alert_desk.notify(result.alert.dispatch_id))
    return result.outcome  # the update middleware's observer counts stored answers


async def on_comment(
    message: Message,
    session: AsyncSession,
    services: Services,
    alert_desk: AlertDesk,
    replies: Replies,
    now: datetime,
    locale: str,
) -> Outcome:
    assert message.text is not None and message.from_user is not None
    result = await services.answers.comment(session, message.from_user.id, message.text, now)
    if result.outcome is Outcome.NOT_WAITING:
        # Not a survey answer: maybe the customer answers a staff reply about their alert.
        back = await alerts.customer_message(session, message.from_user.id, message.text, now)
        if back is not None:
            replies.after(alert_desk.relay(back))
            said = t(result.locale if result.question else locale, "customer_reply_passed")
            replies.add(message.answer(said))
            return result.outcome
        key = "tap_hint" if result.question is not None else "not_waiting"
        replies.add(message.answer(t(result.locale if result.question else locale, key)))
        return result.outcome
    if result.outcome is Outcome.TOO_LONG:
        replies.add(message.answer(_too_long(message.text, result.locale)))
        return result.outcome
    if result.outcome is not Outcome.RECORDED:
        replies.add(message.answer(t(result.locale, _TOASTS[result.outcome])))
        return result.outcome
    if result.prompt_message_id is not None:
        replies.add(
            EditMessageReplyMarkup(
                chat_id=message.chat.id, message_id=result.prompt_message_id, reply_markup=None
            )
        )
    _continue(result, replies, services, message.chat.id)
    if result.alert is not None:
        replies.after(alert_desk.notify(result.alert.dispatch_id))
    return result.outcome


def _too_long(text: str, locale: str) -> str:
    """The comment is refused, not cut: the customer still has it and can shorten it."""
    length = tn(locale, "characters", len(text.strip()))
    return t(locale, "comment_too_long", length=length, limit=number(MAX_COMMENT, locale))


async def is_not_text(message: Message) -> bool:
    """A photo, a sticker, a voice message…: anything without text."""
    return message.text is None


async def on_not_text(
    message: Message,
    session: AsyncSession,
    services: Services,
    replies: Replies,
    locale: str,
    role: Role,
) -> None:
    """Only words and taps are answers: say which one the open question needs."""
    assert message.from_user is not None
    if role is not Role.CUSTOMER:  # e.g. a photo as the reply to an alert
        replies.add(message.answer(t(locale, "text_only_team")))
        return
    waiting = await services.answers.waiting(session, message.from_user.id)
    question = waiting.question
    if question is None:
        replies.add(message.answer(t(locale, "not_waiting")))
        return
    key = "text_only" if question.kind is QuestionKind.TEXT else "tap_hint"
    replies.add(message.answer(t(waiting.locale, key)))


async def on_edited(message: Message, replies: Replies, locale: str) -> None:
    """An edit arrives as a separate update; what was kept is the first version."""
    replies.add(message.answer(t(locale, "edits_unseen")))


def _continue(result: Recorded, replies: Replies, services: Services, chat_id: int) -> None:
    """The next question, or thanks when the wave is done."""
    if result.next is None:
        if result.finished:
            replies.add(SendMessage(chat_id=chat_id, text=t(result.locale, "thanks_done")))
        return
    text, keyboard = render(result.next)
    method = SendMessage(
        chat_id=result.next.chat_id, text=text, parse_mode=ParseMode.HTML, reply_markup=keyboard
    )
    replies.add(
        method, _remember_message(services, result.next), question_of=_question_of(result.next)
    )


def _question_of(ask: Ask) -> tuple[int, str]:
    return ask.dispatch_id, ask.question.id


def _remember_message(services: Services, ask: Ask) -> Any:
    """The open question's message id: a text prompt's Skip button is removed once it is
    answered (stored at once); a reminder takes over the buttons of the message it repeats
    (noted, stored by the next drain: no transaction on the answer's path)."""

    async def remember(message: Message) -> None:
        if ask.question.kind is QuestionKind.TEXT:
            async with services.sessions.begin() as session:
                await answers.set_message(session, ask.dispatch_id, message.message_id)
        else:
            services.open_messages.note(ask.dispatch_id, message.message_id)

    return remember


async def on_continue(
    message: Message, session: AsyncSession, services: Services, replies: Replies, locale: str
) -> None:
    """/continue: the question the customer's wave waits on, again (after a reply that
    Telegram never got, or a message the customer deleted)."""
    assert message.from_user is not None
    resumed = await services.answers.resume(session, message.from_user.id)
    if resumed is None:
        replies.add(message.answer(t(locale, "nothing_to_continue")))
        return
    _ask_again(resumed, replies, services)


async def complete_replay(
    session: AsyncSession, update: Update, replies: Replies, data: dict[str, Any]
) -> None:
    """An answer delivered again by Telegram was committed, but the process may have
    stopped before its reply went out (the offset is confirmed only after it): the
    answered message is closed and the question the wave now waits on is asked again."""
    services: Services | None = data.get("services")
    if services is None:
        return
    query, message = update.callback_query, update.message
    if query is not None and query.data is not None and query.data.startswith("a:"):
        try:
            tapped = AnswerCb.unpack(query.data)
        except (TypeError, ValueError):
            return
        resumed = await services.answers.resume(session, query.from_user.id, tapped.d)
        if resumed is None or resumed.ask.question.id == tapped.q:
            return
        if isinstance(query.message, Message) and resumed.answered is not None:
            text = answered_text(
                services.survey, resumed.answered, resumed.locale, resumed.shown, resumed.skipped
            )
            replies.add(
                query.message.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=None)
            )
        replies.add(query.answer())
        _ask_again(resumed, replies, services)
    elif message is not None and message.from_user is not None and await is_comment(message):
        resumed = await services.answers.resume(session, message.from_user.id)
        if resumed is None or resumed.answered is None:
            return
        if resumed.answered.kind is QuestionKind.TEXT:
            _ask_again(resumed, replies, services)


def _ask_again(resumed: Resumed, replies: Replies, services: Services) -> None:
    text, keyboard = render(resumed.ask)
    method = SendMessage(
        chat_id=resumed.ask.chat_id, text=text, parse_mode=ParseMode.HTML, reply_markup=keyboard
    )
    on_sent = _remember_message(services, resumed.ask)
    replies.add(method, on_sent, question_of=_question_of(resumed.ask))


def setup() -> Router:
    router = Router(name="survey")
    router.message.register(on_continue, Command("continue"))
    router.callback_query.register(on_tap, AnswerCb.filter(), answer_offered)
    router.message.register(on_comment, is_comment)
    router.message.register(on_not_text, is_not_text)
    router.edited_message.register(on_edited)
    return router
