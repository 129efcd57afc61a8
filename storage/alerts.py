"""Alerts (closing the loop): one per unhappy wave, the notification each staff member
got, the staff member's pending reply, and the exchange with the customer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Alert,
    AlertMessage,
    AlertReply,
    Answer,
    Customer,
    ReplyDraft,
    StaffMention,
)
from storage.upsert import insert_ignoring_conflicts

_ALERTS = cast(Table, Alert.__table__)
_MESSAGES = cast(Table, AlertMessage.__table__)
_DRAFTS = cast(Table, ReplyDraft.__table__)
_MENTIONS = cast(Table, StaffMention.__table__)


@dataclass(frozen=True, slots=True)
class AlertAnswer:
    question_id: str
    stage: str
    touchpoint: str | None
    rating: int | None
    nps: int | None
    emotion: str | None
    comment: str | None


@dataclass(frozen=True, slots=True)
class AlertDetails:
    """An alert as the notifications show it: read from the wave's answers, so what the
    customer erased with /forget is gone here too."""

    id: int
    ref: str | None  # None once the customer is forgotten
    segment: str | None
    created_at: datetime
    replied_at: datetime | None
    replied_by_name: str | None
    answers: tuple[AlertAnswer, ...]
    messages: dict[int, int]  # recipient chat → the notification's message id


@dataclass(frozen=True, slots=True)
class Recipient:
    """Where a reply about an alert goes: the customer's chat, if they are still known."""

    alert_id: int
    customer_id: int | None
    ref: str | None
    chat_id: int | None
    locale: str | None


async def open_alert(session: AsyncSession, values: dict[str, Any]) -> None:
    """The wave's alert, opened with `values` unless it is open already: one statement,
    and no read (the notification reads it after the commit: `details_of_wave`)."""
    connection = await session.connection()
    statement = insert_ignoring_conflicts(connection.dialect.name, _ALERTS)
    await connection.execute(statement, values)


async def details(session: AsyncSession, alert_id: int) -> AlertDetails | None:
    return await _details(session, Alert.id == alert_id)


async def details_of_wave(session: AsyncSession, dispatch_id: int) -> AlertDetails | None:
    """The alert of this wave (one at most), as `details`."""
    return await _details(session, Alert.dispatch_id == dispatch_id)


async def _details(session: AsyncSession, where: ColumnElement[bool]) -> AlertDetails | None:
    row = (
        await session.execute(
            select(Alert, Customer.ref)
            .outerjoin(Customer, Customer.id == Alert.customer_id)
            .where(where)
        )
    ).first()
    if row is None:
        return None
    alert, ref = row
    answers = await session.execute(
        select(
            Answer.question_id, Answer.stage, Answer.touchpoint, Answer.rating, Answer.nps,
            Answer.emotion, Answer.comment,
        )
        .where(Answer.dispatch_id == alert.dispatch_id)
        .order_by(Answer.id)
    )  # fmt: skip
    messages = await session.execute(
        select(AlertMessage.chat_id, AlertMessage.message_id).where(
            AlertMessage.alert_id == alert.id
        )
    )
    return AlertDetails(
        alert.id, ref, alert.segment, alert.created_at, alert.replied_at, alert.replied_by_name,
        tuple(AlertAnswer(*answer) for answer in answers.all()),
        {int(chat): int(message) for chat, message in messages.all()},
    )  # fmt: skip


async def remember_messages(
    session: AsyncSession, alert_id: int, messages: dict[int, int]
) -> None:
    """The notifications just sent; a recipient's newer message replaces the older one."""
    for chat_id, message_id in messages.items():
        await session.execute(
            delete(AlertMessage).where(
                AlertMessage.alert_id == alert_id, AlertMessage.chat_id == chat_id
            )
        )
        session.add(AlertMessage(alert_id=alert_id, chat_id=chat_id, message_id=message_id))
    await session.flush()


async def of_tg_user(session: AsyncSession, tg_user_id: int) -> list[int]:
    """The alerts about the customer with this Telegram user id."""
    found = await session.scalars(
        select(Alert.id)
        .join(Customer, Customer.id == Alert.customer_id)
        .where(Customer.tg_user_id == tg_user_id)
        .order_by(Alert.id)
    )
    return list(found)


async def mention(session: AsyncSession, alert_id: int, chat_id: int, message_id: int) -> None:
    """A staff-chat message that shows the alert's customer (reference or words)."""
    connection = await session.connection()
    statement = insert_ignoring_conflicts(connection.dialect.name, _MENTIONS)
    await connection.execute(
        statement, {"alert_id": alert_id, "chat_id": chat_id, "message_id": message_id}
    )


async def take_mentions(session: AsyncSession, alert_ids: list[int]) -> list[tuple[int, int]]:
    """(chat, message) of every staff-chat message about these alerts' customer, forgotten
    here: /forget edits them once, after its commit."""
    if not alert_ids:
        return []
    where = StaffMention.alert_id.in_(alert_ids)
    rows = await session.execute(
        select(StaffMention.chat_id, StaffMention.message_id)
        .where(where)
        .order_by(StaffMention.chat_id, StaffMention.message_id)
    )
    found = [(int(chat), int(message)) for chat, message in rows.all()]
    await session.execute(delete(StaffMention).where(where))
    return found


async def recipient(session: AsyncSession, alert_id: int) -> Recipient | None:
    row = (
        await session.execute(
            select(Alert.id, Alert.customer_id, Customer.ref, Customer.chat_id, Customer.locale)
            .outerjoin(Customer, Customer.id == Alert.customer_id)
            .where(Alert.id == alert_id)
        )
    ).first()
    return Recipient(*row) if row else None


# -- the staff member's pending reply --------------------------------------------------
async def start_draft(session: AsyncSession, user_id: int, alert_id: int, now: datetime) -> None:
    """Pressing Reply again (on this alert or another) replaces the pending reply."""
    await drop_draft(session, user_id)
    session.add(ReplyDraft(user_id=user_id, alert_id=alert_id, started_at=now))
    await session.flush()


async def draft_of(session: AsyncSession, user_id: int) -> ReplyDraft | None:
    return await session.get(ReplyDraft, user_id)


async def drop_draft(session: AsyncSession, user_id: int) -> bool:
    result: Any = await session.execute(delete(ReplyDraft).where(ReplyDraft.user_id == user_id))
    return bool(result.rowcount)


# -- the exchange ------------------------------------------------------------------------
async def add_reply(
    session: AsyncSession,
    alert_id: int,
    direction: str,
    text: str,
    now: datetime,
    author_id: int | None = None,
) -> int:
    """Stored as `sending` before the send: a crash mid-send leaves a trace, not nothing."""
    reply = AlertReply(
        alert_id=alert_id, author_id=author_id, direction=direction, text=text,
        status="sending", created_at=now,
    )  # fmt: skip
    session.add(reply)
    await session.flush()
    return reply.id


async def settle_reply(
    session: AsyncSession,
    reply_id: int,
    status: str,
    message_id: int | None = None,
    error: str | None = None,
) -> None:
    await session.execute(
        update(AlertReply)
        .where(AlertReply.id == reply_id)
        .values(status=status, message_id=message_id, error=error[:500] if error else None)
    )


async def mark_replied(
    session: AsyncSession, alert_id: int, user_id: int, name: str, now: datetime
) -> None:
    """The first delivered reply answers the alert; later ones do not move the time."""
    await session.execute(
        update(Alert)
        .where(Alert.id == alert_id, Alert.replied_at.is_(None))
        .values(replied_at=now, replied_by=user_id, replied_by_name=name[:64])
    )


async def conversation_of(
    session: AsyncSession, tg_user_id: int, since: datetime
) -> tuple[int, int] | None:
    """(alert id, staff user id) of the newest reply delivered to this customer since
    `since`: where the customer's own message goes back to."""
    row = (
        await session.execute(
            select(AlertReply.alert_id, AlertReply.author_id)
            .join(Alert, Alert.id == AlertReply.alert_id)
            .join(Customer, Customer.id == Alert.customer_id)
            .where(
                Customer.tg_user_id == tg_user_id,
                AlertReply.direction == "staff",
                AlertReply.status == "sent",
                AlertReply.author_id.is_not(None),
                AlertReply.created_at >= since,
            )
            .order_by(AlertReply.created_at.desc(), AlertReply.id.desc())
            .limit(1)
        )
    ).first()
    if row is None or row.author_id is None:
        return None
    return row.alert_id, row.author_id
