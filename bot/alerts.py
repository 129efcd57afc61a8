"""Closing the loop in Telegram: the alert notification every staff member and owner gets
(edited in place as the wave goes on and once it is answered), and the delivery of the
exchange between them and the customer.

Everything here runs after the update's commit (`Replies.after`): the alert and the
replies are rows first, so a failed send loses nothing, and one recipient's failure
(a staff member who blocked the bot) neither blocks the others nor undoes the answer.

A pushed notification has no update to take its recipient's language from: it is in the
language their last update had (`bot.languages`), else in CJM_DEFAULT_LOCALE.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime, tzinfo
from functools import partial

from aiogram import Bot
from aiogram.exceptions import AiogramError, TelegramBadRequest, TelegramForbiddenError
from aiogram.types import InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.keyboards import alert_keyboard
from bot.languages import TeamLanguages
from bot.reply_sender import ReplySender
from bot.telegram_errors import not_modified, retrying
from bot.texts import t
from storage import alerts as stored
from storage.alerts import AlertAnswer, AlertDetails
from storage.db import transient_db_error
from surveys import alerts
from surveys.alerts import AlertRules, Outgoing
from surveys.formats import moment
from surveys.messenger import MaybeDelivered, SendError, Unreachable
from surveys.model import QuestionKind, Survey

log = logging.getLogger(__name__)
READ_RETRIES = (0.2, 1.0, 3.0, 5.0)  # seconds between reads of a committed alert

TELEGRAM_LIMIT = 4096
COMMENT_SHOWN = 600  # a notification shows every comment of the wave, each cut to this
QUESTION_SHOWN = 120  # and the question each answer was given to
SHOWN_REMEMBERED = 10_000  # notifications whose look is remembered (the latest)
Clock = Callable[[], datetime]
Job = Callable[[Bot], Awaitable[None]]
Look = tuple[int, str, bool]  # a notification's message id, text and whether it has Reply


class AlertDesk:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        survey: Survey,
        languages: TeamLanguages,
        timezone: tzinfo,
        clock: Clock,
        sender: ReplySender | None = None,
    ) -> None:
        # Every notification and reply takes a slot of the bot's one send rate and obeys
        # its 429 pause, as the outbox and the replies to updates do.
        self.paced = (sender or ReplySender()).paced
        self.sessions = sessions
        self.survey = survey
        self.languages = languages
        self.recipients = sorted(languages.user_ids)
        self.locale = languages.default_locale  # for customers without a language of their own
        self.timezone = timezone
        self.clock = clock
        self.rules = AlertRules(survey)
        self.questions = {q.id: q for wave in survey.waves for q in wave.questions}
        # What each notification shows now, by (alert, chat): an edit that would change
        # nothing is not sent (Telegram answers it 400 "message is not modified").
        self.shown: OrderedDict[tuple[int, int], Look] = OrderedDict()

    # -- the notification ---------------------------------------------------------------
    def notify(self, dispatch_id: int) -> Job:
        """After an answer's commit: show its wave's alert as it is stored now. With no
        staff or owner to tell, nothing is read."""

        async def job(bot: Bot) -> None:
            if not self.recipients:
                return
            alert = await self._read(dispatch_id)
            if alert is not None:
                await self.publish(alert)(bot)

        return job

    async def _read(self, dispatch_id: int) -> AlertDetails | None:
        """The wave's alert, read again after a transient database error (a locked SQLite
        file, a dropped connection): the answer is committed, and a staff member who is
        not told about an unhappy customer is a message lost."""
        for delay in (*READ_RETRIES, None):
            try:
                async with self.sessions() as session:
                    return await stored.details_of_wave(session, dispatch_id)
            except Exception as error:
                if delay is None or not transient_db_error(error):
                    raise
                log.warning(
                    "reading alert of dispatch %s failed: again in %gs", dispatch_id, delay
                )
                await asyncio.sleep(delay)
        return None

    def publish(self, alert: AlertDetails) -> Job:
        """Show the alert to every recipient: edit the notification they have, send one
        to those who have none yet (also when an earlier send to them failed)."""

        async def job(bot: Bot) -> None:
            shown = {}
            for chat_id in self.recipients:
                locale = self.languages.of(chat_id)
                text = self.text(alert, locale)
                # Once the customer is forgotten there is nobody to reply to.
                keyboard = alert_keyboard(alert.id, locale) if alert.ref is not None else None
                message_id = await self._show(bot, chat_id, alert, text, keyboard)
                if message_id is not None and message_id != alert.messages.get(chat_id):
                    shown[chat_id] = message_id
            if shown:
                async with self.sessions.begin() as session:
                    await stored.remember_messages(session, alert.id, shown)

        return job

    async def _show(
        self,
        bot: Bot,
        chat_id: int,
        alert: AlertDetails,
        text: str,
        keyboard: InlineKeyboardMarkup | None,
    ) -> int | None:
        """The notification's message id in this chat, or None when it could not be shown."""
        message_id = alert.messages.get(chat_id)
        looks = (text, keyboard is not None)
        try:
            if message_id is not None:
                if self.shown.get((alert.id, chat_id)) == (message_id, *looks):
                    return message_id
                try:
                    await self.paced(lambda: bot.edit_message_text(
                        text=text, chat_id=chat_id, message_id=message_id, reply_markup=keyboard
                    ))  # fmt: skip
                except TelegramBadRequest as error:
                    if not_modified(error):
                        self._remember(alert.id, chat_id, (message_id, *looks))
                        return message_id
                    # Deleted by the staff member, or too old to edit: a fresh one instead.
                    log.info("alert %s: editing in chat %s failed: %s", alert.id, chat_id, error)
                else:
                    self._remember(alert.id, chat_id, (message_id, *looks))
                    return message_id
            sent = await self.paced(lambda: bot.send_message(chat_id, text, reply_markup=keyboard))
        except TelegramForbiddenError:
            log.warning("alert %s: staff chat %s has blocked the bot", alert.id, chat_id)
            return None
        except (AiogramError, TimeoutError) as error:
            log.warning("alert %s: not shown in chat %s: %s", alert.id, chat_id, error)
            return None
        self._remember(alert.id, chat_id, (sent.message_id, *looks))
        return sent.message_id

    def _remember(self, alert_id: int, chat_id: int, looks: Look) -> None:
        self.shown[(alert_id, chat_id)] = looks
        self.shown.move_to_end((alert_id, chat_id))
        while len(self.shown) > SHOWN_REMEMBERED:
            self.shown.popitem(last=False)

    def text(self, alert: AlertDetails, locale: str) -> str:
        who = alert.ref if alert.ref is not None else t(locale, "alert_forgotten")
        head = [t(locale, "alert_title"), t(locale, "alert_customer", ref=who)]
        if alert.segment:
            head.append(t(locale, "alert_segment", segment=alert.segment))
        lines = [line for a in alert.answers if (line := self._answer_line(a, locale))]
        text = "\n".join(head) + "\n\n" + "\n".join(lines)
        if alert.replied_at is not None:
            when = moment(alert.replied_at, self.timezone, locale)
            text += "\n\n" + t(locale, "alert_answered", name=alert.replied_by_name, when=when)
        return text if len(text) <= TELEGRAM_LIMIT else text[: TELEGRAM_LIMIT - 1] + "…"

    def _answer_line(self, answer: AlertAnswer, locale: str) -> str | None:
        """`Purchase — How was the food? ★★☆☆☆ ❗`: the stage, the question and the answer,
        marked where a threshold was crossed (the question says which touchpoint)."""
        value, crossed = self._value(answer, locale)
        if value is None:
            return None
        question = self._question(answer.question_id, locale)
        if question:
            asked = f"{self._stage_name(answer, locale)} — {question} "
        else:
            asked = f"{self._where(answer, locale)}: "
        return asked + value + (" ❗" if crossed else "")

    def _stage_name(self, answer: AlertAnswer, locale: str) -> str:
        stage = self.survey.stage(answer.stage)
        return self.survey.text(stage.name, locale) if stage else answer.stage

    def _question(self, question_id: str, locale: str) -> str:
        """The question as the customer read it (shortened), ending so an answer can follow."""
        question = self.questions.get(question_id)
        if question is None:
            return ""
        text = " ".join(self.survey.text(question.text, locale).split())
        if len(text) > QUESTION_SHOWN:
            text = text[: QUESTION_SHOWN - 1].rstrip() + "…"
        return text if text[-1:] in "?!.:…" else text + ":"

    def _value(self, answer: AlertAnswer, locale: str) -> tuple[str | None, bool]:
        if answer.rating is not None:
            crossed = self.rules.crosses(QuestionKind.RATING, answer.rating, None)
            return "★" * answer.rating + "☆" * (5 - answer.rating), crossed
        if answer.nps is not None:
            return f"NPS {answer.nps}/10", self.rules.crosses(QuestionKind.NPS, answer.nps, None)
        if answer.emotion is not None:
            emotion = next((e for e in self.survey.emotions if e.id == answer.emotion), None)
            if emotion is None:
                return answer.emotion, False
            label = f"{emotion.emoji} {self.survey.text(emotion.label, locale)}"
            return label, self.rules.crosses(QuestionKind.EMOTION, None, emotion.valence)
        if answer.comment:
            comment = answer.comment
            if len(comment) > COMMENT_SHOWN:
                comment = comment[: COMMENT_SHOWN - 1].rstrip() + "…"
            return t(locale, "quote", text=comment), False
        return None, False  # a choice or a skipped comment says nothing about the pain

    def _where(self, answer: AlertAnswer, locale: str) -> str:
        stage = self.survey.stage(answer.stage)
        if stage is None:
            return answer.stage
        name = self.survey.text(stage.name, locale)
        touchpoint = next((tp for tp in stage.touchpoints if tp.id == answer.touchpoint), None)
        return f"{name} · {self.survey.text(touchpoint.name, locale)}" if touchpoint else name

    # -- staff-chat messages that show the customer -----------------------------------------
    def mentioned(self, alert_id: int, chat_id: int) -> Callable[[Message], Awaitable[None]]:
        """After a send: remember the message, so /forget can clear it."""

        async def remember(message: Message) -> None:
            await self._record_mention(alert_id, chat_id, message.message_id)

        return remember

    async def _record_mention(self, alert_id: int, chat_id: int, message_id: int | None) -> None:
        if message_id is None:
            return
        async with self.sessions.begin() as session:
            await alerts.mentioned(session, alert_id, chat_id, message_id)

    def forget(self, mentions: list[tuple[int, int]]) -> Job:
        """/forget: the reply prompts, delivery notices and relayed messages that showed
        the customer's reference or words say only that the customer deleted their data."""

        async def job(bot: Bot) -> None:
            for chat_id, message_id in mentions:
                text = t(self.languages.of(chat_id), "mention_forgotten")
                try:
                    await self.paced(partial(
                        bot.edit_message_text, text=text, chat_id=chat_id,
                        message_id=message_id, reply_markup=None,
                    ))  # fmt: skip
                except (AiogramError, TimeoutError) as error:
                    if not not_modified(error):
                        log.warning(
                            "forgotten customer: message %s in staff chat %s not cleared: %s",
                            message_id, chat_id, type(error).__name__,
                        )  # fmt: skip

        return job

    # -- the staff member's reply ---------------------------------------------------------
    def deliver(self, reply: Outgoing, staff_id: int, name: str, locale: str) -> Job:
        """Send the reply to the customer, then tell the staff member how it went and, once
        delivered, show every recipient who answered the alert."""

        async def job(bot: Bot) -> None:
            ref = reply.ref or "—"
            theirs = reply.locale or self.locale
            business = self.survey.text(self.survey.business or self.survey.title, theirs)
            text = t(theirs, "reply_to_customer", business=business,
                     text=reply.text)  # fmt: skip
            try:
                message = await retrying(
                    lambda: self.paced(lambda: bot.send_message(reply.chat_id, text))
                )
            except SendError as failure:
                await self._not_delivered(bot, reply, failure, staff_id, locale)
                return
            async with self.sessions.begin() as session:
                alert = await alerts.delivered(
                    session, reply, message.message_id, (staff_id, name), self.clock()
                )
            said = await self._say(bot, staff_id, t(locale, "reply_delivered", ref=ref))
            await self._record_mention(reply.alert_id, staff_id, said)
            if alert is not None:
                await self.publish(alert)(bot)

        return job

    async def _not_delivered(
        self, bot: Bot, reply: Outgoing, failure: SendError, staff_id: int, locale: str
    ) -> None:
        ref = reply.ref or "—"
        if isinstance(failure, Unreachable):
            status, said = "blocked", t(locale, "reply_blocked", ref=ref)
        elif isinstance(failure, MaybeDelivered):
            status, said = "unknown", t(locale, "reply_unknown", ref=ref, reason=failure.reason)
        else:
            status, said = "failed", t(locale, "reply_failed", ref=ref, reason=failure.reason)
        log.warning("reply %s about alert %s: %s", reply.reply_id, reply.alert_id, failure.reason)
        async with self.sessions.begin() as session:
            await alerts.not_delivered(session, reply, status, failure.reason, self.clock())
        await self._record_mention(reply.alert_id, staff_id, await self._say(bot, staff_id, said))

    # -- the customer's answer back ---------------------------------------------------------
    def relay(self, message: Outgoing) -> Job:
        """The customer's message to the staff member who replied to them, with the button
        to answer again."""

        async def job(bot: Bot) -> None:
            locale = self.languages.of(message.chat_id)
            text = t(locale, "customer_reply", ref=message.ref or "—", text=message.text)
            keyboard = alert_keyboard(message.alert_id, locale)
            try:
                sent = await retrying(lambda: self.paced(
                    lambda: bot.send_message(message.chat_id, text, reply_markup=keyboard)
                ))  # fmt: skip
            except SendError as failure:
                reason = failure.reason
                log.warning("customer's message %s not relayed: %s", message.reply_id, reason)
                async with self.sessions.begin() as session:
                    await alerts.settle(session, message, None, "failed", reason)
                return
            async with self.sessions.begin() as session:
                await alerts.settle(session, message, sent.message_id, "sent")
                await alerts.mentioned(session, message.alert_id, message.chat_id, sent.message_id)

        return job

    async def _say(self, bot: Bot, chat_id: int, text: str) -> int | None:
        """A note to a staff member, its message id; losing one is logged, not fatal."""
        try:
            return (await self.paced(lambda: bot.send_message(chat_id, text))).message_id
        except (AiogramError, TimeoutError) as error:
            log.warning("could not tell staff chat %s: %s", chat_id, error)
            return None
