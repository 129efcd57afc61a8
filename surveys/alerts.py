"""Closing the loop (SPEC §4): an answer at or below the survey's alert thresholds opens
one alert for its wave, and every later answer of that wave updates it.

What crosses: a rating ≤ `alert.rating_at_most` (default 2), an NPS ≤ `alert.nps_at_most`
(default 6, a detractor), and an emotion with valence ≤ `alert.valence_at_most` (default
−2: disappointment, irritation — a complaint even when the stars were kind).

The check runs on every answer, so it is pure: the wave's earlier answers are in its
`progress` already, and a wave that never crossed costs no query at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage import alerts, dispatches
from storage.alerts import AlertDetails, Recipient
from storage.answers import OpenWave
from storage.models import ReplyDraft
from surveys.model import Question, QuestionKind, Survey

# A Reply pressed and forgotten must not send tomorrow's unrelated message to a customer.
DRAFT_TTL = timedelta(hours=24)
# How long after a staff reply the customer's own message is taken as their answer to it.
CONVERSATION = timedelta(hours=72)
MAX_REPLY = 3500  # leaves room for the prefix within Telegram's 4,096 characters


@dataclass(frozen=True, slots=True)
class AlertUpdate:
    """Staff must be shown the alert of this wave, read once the answer is committed (what
    they see is what is stored, and an update that is not stored tells nobody)."""

    dispatch_id: int
    new: bool  # this answer opened it


class AlertRules:
    def __init__(self, survey: Survey) -> None:
        self.limits = survey.alert
        self.kinds = {q.id: q.kind for wave in survey.waves for q in wave.questions}

    def crosses(self, kind: QuestionKind, number: int | None, valence: int | None) -> bool:
        limits = self.limits
        if number is not None and kind is QuestionKind.RATING:
            return number <= limits.rating_at_most
        if number is not None and kind is QuestionKind.NPS:
            return number <= limits.nps_at_most
        if valence is not None and kind is QuestionKind.EMOTION:
            return limits.valence_at_most is not None and valence <= limits.valence_at_most
        return False

    def crossed(self, progress: dict[str, Any]) -> bool:
        """Whether an earlier answer of the wave crossed (so its alert is open)."""
        return any(
            self.crosses(self.kinds.get(qid, QuestionKind.TEXT), number, valence)
            for qid, (number, _, valence) in progress.items()
        )

    def concerns(self, progress: dict[str, Any], question: Question, given: list[Any]) -> bool:
        """This answer opens the wave's alert or adds to the open one."""
        number, _, valence = given
        return self.crosses(question.kind, number, valence) or self.crossed(progress)


async def record(
    session: AsyncSession,
    rules: AlertRules,
    wave: OpenWave,
    question: Question,
    now: datetime,
) -> AlertUpdate:
    """Open the wave's alert unless it is open: one statement, whatever the wave's state
    (an alert missing for a wave that crossed before, e.g. under other thresholds, opens)."""
    new = not rules.crossed(wave.progress)
    await alerts.open_alert(session, {
        "dispatch_id": wave.id, "customer_id": wave.customer_id, "survey_id": wave.survey_id,
        "segment": wave.segment, "stage": question.stage, "created_at": now,
    })  # fmt: skip
    return AlertUpdate(wave.id, new)


# -- the staff member's reply -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message of the exchange, stored as `sending`, to be delivered after the commit."""

    reply_id: int
    alert_id: int
    text: str
    chat_id: int  # where it goes
    ref: str | None
    locale: str | None  # the customer's, for a staff reply


async def begin_reply(
    session: AsyncSession, user_id: int, alert_id: int, now: datetime
) -> Recipient | None:
    """Remember that this staff member's next message answers the alert. None when the
    alert is gone; a recipient without a chat when the customer erased their data."""
    target = await alerts.recipient(session, alert_id)
    if target is not None and target.chat_id is not None:
        await alerts.start_draft(session, user_id, alert_id, now)
    return target


async def pending_draft(session: AsyncSession, user_id: int, now: datetime) -> ReplyDraft | None:
    draft = await alerts.draft_of(session, user_id)
    return draft if draft is not None and now - draft.started_at <= DRAFT_TTL else None


async def take_draft(
    session: AsyncSession, draft: ReplyDraft, text: str, now: datetime
) -> Outgoing | None:
    """The staff member's message becomes the reply; None when the customer is gone."""
    await alerts.drop_draft(session, draft.user_id)
    target = await alerts.recipient(session, draft.alert_id)
    if target is None or target.chat_id is None:
        return None
    reply_id = await alerts.add_reply(
        session, target.alert_id, "staff", text, now, author_id=draft.user_id
    )
    return Outgoing(reply_id, target.alert_id, text, target.chat_id, target.ref, target.locale)


async def delivered(
    session: AsyncSession, reply: Outgoing, message_id: int, staff: tuple[int, str], now: datetime
) -> AlertDetails | None:
    """The reply arrived: the alert is answered (by the first one delivered)."""
    await alerts.settle_reply(session, reply.reply_id, "sent", message_id)
    await alerts.mark_replied(session, reply.alert_id, *staff, now)
    return await alerts.details(session, reply.alert_id)


async def not_delivered(
    session: AsyncSession, reply: Outgoing, status: str, reason: str, now: datetime
) -> None:
    """`blocked` also marks the customer unreachable: nothing is sent to them again."""
    await alerts.settle_reply(session, reply.reply_id, status, error=reason)
    target = await alerts.recipient(session, reply.alert_id)
    if status == "blocked" and target is not None and target.customer_id is not None:
        await dispatches.mark_unreachable(session, target.customer_id, now)


async def forgetting(session: AsyncSession, tg_user_id: int) -> list[int]:
    """The customer's alerts, taken before /forget unlinks them: their notifications are
    redrawn afterwards, without the customer's reference and words."""
    return await alerts.of_tg_user(session, tg_user_id)


async def forget_mentions(session: AsyncSession, alert_ids: list[int]) -> list[tuple[int, int]]:
    """The staff-chat messages (chat, message) that show these alerts' customer: /forget
    clears them after its commit. Their records go now, with the customer."""
    return await alerts.take_mentions(session, alert_ids)


async def mentioned(session: AsyncSession, alert_id: int, chat_id: int, message_id: int) -> None:
    await alerts.mention(session, alert_id, chat_id, message_id)


async def redrawn(session: AsyncSession, alert_ids: list[int]) -> list[AlertDetails]:
    found = [await alerts.details(session, alert_id) for alert_id in alert_ids]
    return [alert for alert in found if alert is not None]


# -- the customer's answer back ---------------------------------------------------------
async def customer_message(
    session: AsyncSession, tg_user_id: int, text: str, now: datetime
) -> Outgoing | None:
    """A customer's message within `CONVERSATION` of a staff reply goes back to that
    staff member; None when there is no such conversation."""
    found = await alerts.conversation_of(session, tg_user_id, now - CONVERSATION)
    if found is None:
        return None
    alert_id, staff_id = found
    target = await alerts.recipient(session, alert_id)
    text = text.strip()[:MAX_REPLY]
    reply_id = await alerts.add_reply(session, alert_id, "customer", text, now)
    ref = target.ref if target else None
    return Outgoing(reply_id, alert_id, text, staff_id, ref, None)


async def settle(
    session: AsyncSession, reply: Outgoing, message_id: int | None, status: str, reason: str = ""
) -> None:
    await alerts.settle_reply(session, reply.reply_id, status, message_id, reason or None)
