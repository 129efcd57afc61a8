"""Where a customer's tap or comment becomes an answer row and the next question."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage import answers
from storage.answers import OpenWave
from storage.dispatches import ANSWERABLE
from surveys import alerts
from surveys.alerts import AlertRules, AlertUpdate
from surveys.conditions import Given
from surveys.messenger import Ask
from surveys.model import Question, QuestionKind, Survey, Wave
from surveys.planner import first_question, next_question

SKIP = -1  # the value of the Skip button under a text question
MAX_COMMENT = 3000


class Outcome(StrEnum):
    RECORDED = "recorded"
    ALREADY_ANSWERED = "already_answered"  # a double tap, or a replayed update
    CLOSED = "closed"  # the wave expired, was answered, or the survey changed
    FORGED = "forged"  # not this user's wave, or a value the question cannot take
    NOT_WAITING = "not_waiting"  # a message when no comment is expected


@dataclass(frozen=True, slots=True)
class Recorded:
    outcome: Outcome
    locale: str = "en"
    question: Question | None = None  # what was answered
    shown: str = ""  # the answer as the customer should see it on the edited message
    next: Ask | None = None
    finished: bool = False
    prompt_message_id: int | None = None  # a text prompt to close after its comment
    alert: AlertUpdate | None = None  # staff to notify (SPEC §4 "Closing the loop")


@dataclass(frozen=True, slots=True)
class Resumed:
    ask: Ask  # the question the wave waits on
    locale: str
    answered: Question | None = None  # the last question answered, if any
    shown: str = ""  # its answer as the customer should see it


class AnswerService:
    def __init__(self, survey: Survey, default_locale: str) -> None:
        self.survey = survey
        self.default_locale = default_locale
        self.alert_rules = AlertRules(survey)

    async def tap(
        self,
        session: AsyncSession,
        user_id: int,
        dispatch_id: int,
        question_id: str,
        value: int,
        now: datetime,
    ) -> Recorded:
        wave = await answers.open_wave(session, dispatch_id)
        if wave is None or wave.tg_user_id != user_id:
            return Recorded(Outcome.FORGED)
        locale = wave.locale or self.default_locale
        found = self._question(wave, question_id)
        if found is None:
            return Recorded(Outcome.CLOSED, locale)
        definition, question = found
        if question_id in wave.progress:
            return Recorded(Outcome.ALREADY_ANSWERED, locale, question)
        if wave.status not in ANSWERABLE or question_id != self._current(wave, definition):
            return Recorded(Outcome.CLOSED, locale, question)
        columns = self._columns(question, value)
        if columns is None:
            return Recorded(Outcome.FORGED, locale, question)
        return await self._record(session, wave, definition, question, columns, now)

    async def comment(
        self, session: AsyncSession, user_id: int, text: str, now: datetime
    ) -> Recorded:
        wave = await answers.open_wave_of(session, user_id, ANSWERABLE)
        if wave is None:
            return Recorded(Outcome.NOT_WAITING)
        locale = wave.locale or self.default_locale
        found = self._question(wave, self._current_id(wave))
        if found is None or found[1].kind is not QuestionKind.TEXT:
            question = found[1] if found else None
            return Recorded(Outcome.NOT_WAITING, locale, question)
        definition, question = found
        columns = {"comment": text.strip()[:MAX_COMMENT]}
        return await self._record(session, wave, definition, question, columns, now)

    async def resume(
        self, session: AsyncSession, user_id: int, dispatch_id: int | None = None
    ) -> Resumed | None:
        """The question a customer's open wave waits on, to put on their screen again
        (a reply lost to a crash or an outage, or the customer's /continue); with the
        last answer given, as it is shown. None when no wave waits for this customer.

        Reads only: asking again changes nothing stored."""
        if dispatch_id is None:
            wave = await answers.open_wave_of(session, user_id, ANSWERABLE)
        else:
            wave = await answers.open_wave(session, dispatch_id)
        if wave is None or wave.tg_user_id != user_id or wave.status not in ANSWERABLE:
            return None
        definition = self.survey.wave(wave.wave_id)
        if definition is None or wave.survey_id != self.survey.id or wave.chat_id is None:
            return None
        current = self._question(wave, self._current(wave, definition))
        if current is None:
            return None
        locale = wave.locale or self.default_locale
        ask = Ask(wave.chat_id, locale, wave.id, self.survey, definition, current[1])
        last = list(wave.progress)[-1] if wave.progress else None
        found = self._question(wave, last) if last else None
        if found is None:
            return Resumed(ask, locale)
        question = found[1]
        columns = _columns_of(question, wave.progress[question.id])
        return Resumed(ask, locale, question, self.shown(question, columns, locale))

    def _current_id(self, wave: OpenWave) -> str:
        definition = self.survey.wave(wave.wave_id)
        if definition is None:
            return ""
        return self._current(wave, definition)

    @staticmethod
    def _current(wave: OpenWave, definition: Wave) -> str:
        # Before the send result is recorded the wave is on its first question.
        return wave.current_question or first_question(definition).id

    def _question(self, wave: OpenWave, question_id: str) -> tuple[Wave, Question] | None:
        definition = self.survey.wave(wave.wave_id)
        if definition is None or wave.survey_id != self.survey.id:
            return None
        question = next((q for q in definition.questions if q.id == question_id), None)
        return (definition, question) if question else None

    def _columns(self, question: Question, value: int) -> dict[str, Any] | None:
        """The answer's columns for a tapped value, or None when the value is impossible."""
        kind = question.kind
        if kind is QuestionKind.RATING and 1 <= value <= 5:
            return {"rating": value}
        if kind is QuestionKind.NPS and 0 <= value <= 10:
            return {"nps": value}
        if kind is QuestionKind.EMOTION and (emotion := self.survey.emotion(value)):
            return {"emotion": emotion.id, "valence": emotion.valence}
        if kind is QuestionKind.CHOICE and 0 <= value < len(question.options):
            return {"choice": question.options[value].id}
        if kind is QuestionKind.TEXT and value == SKIP and question.optional:
            return {"skipped": True}
        return None

    async def _record(
        self,
        session: AsyncSession,
        wave: OpenWave,
        definition: Wave,
        question: Question,
        columns: dict[str, Any],
        now: datetime,
    ) -> Recorded:
        locale = wave.locale or self.default_locale
        stored = await answers.insert(session, {
            "dispatch_id": wave.id, "order_id": wave.order_id, "customer_id": wave.customer_id,
            "survey_id": wave.survey_id, "wave_id": wave.wave_id, "question_id": question.id,
            "stage": question.stage, "touchpoint": question.touchpoint_of(columns.get("choice")),
            "kind": question.kind.value, "segment": wave.segment, "answered_at": now,
            **columns,
        })  # fmt: skip
        if not stored:
            return Recorded(Outcome.ALREADY_ANSWERED, locale, question)
        given_now = _given(columns)
        progress = {**wave.progress, question.id: given_now}
        given = {qid: Given(*values) for qid, values in progress.items()}
        following = next_question(definition, question.id, given)
        await answers.advance(
            session, wave, progress, following.id if following else None, now,
            expires_at=now + definition.expire_after,
        )  # fmt: skip
        ask = None
        if following is not None and wave.chat_id is not None:
            ask = Ask(wave.chat_id, locale, wave.id, self.survey, definition, following)
        return Recorded(
            Outcome.RECORDED, locale, question, self.shown(question, columns, locale), ask,
            finished=following is None, prompt_message_id=wave.message_id,
            alert=await self._alert(session, wave, question, given_now, now),
        )  # fmt: skip

    async def _alert(
        self,
        session: AsyncSession,
        wave: OpenWave,
        question: Question,
        given: list[Any],
        now: datetime,
    ) -> AlertUpdate | None:
        # A pure check first: an answer of a wave that never crossed costs no query.
        if not self.alert_rules.concerns(wave.progress, question, given):
            return None
        return await alerts.record(session, self.alert_rules, wave, question, now)

    def shown(self, question: Question, columns: dict[str, Any], locale: str) -> str:
        if columns.get("skipped"):
            return "—"
        if "rating" in columns:
            stars: int = columns["rating"]
            return "★" * stars + "☆" * (5 - stars)
        if "nps" in columns:
            return f"{columns['nps']}/10"
        if "emotion" in columns:
            emotion = next(e for e in self.survey.emotions if e.id == columns["emotion"])
            return f"{emotion.emoji} {self.survey.text(emotion.label, locale)}"
        if "choice" in columns:
            option = next(o for o in question.options if o.id == columns["choice"])
            return self.survey.text(option.label, locale)
        return str(columns.get("comment") or "")


def _columns_of(question: Question, given: list[Any]) -> dict[str, Any]:
    """An answer's columns back from its `progress` entry (see _given): enough to show it."""
    number, option = [*given, None, None][:2]
    kind = question.kind
    if kind is QuestionKind.RATING and number is not None:
        return {"rating": number}
    if kind is QuestionKind.NPS and number is not None:
        return {"nps": number}
    if kind is QuestionKind.EMOTION and option is not None:
        return {"emotion": option}
    if kind is QuestionKind.CHOICE and option is not None:
        return {"choice": option}
    return {"skipped": True} if kind is QuestionKind.TEXT else {}


def _given(columns: dict[str, Any]) -> list[Any]:
    number = columns.get("rating", columns.get("nps"))
    option = columns.get("choice", columns.get("emotion"))
    return [number, option, columns.get("valence")]
