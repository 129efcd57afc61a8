"""Closing the loop (SPEC §4): an unhappy answer alerts staff and owners at once, one
notification per wave kept up to date, and a staff reply reaches the customer and back."""

from __future__ import annotations

import logging
import re
import sqlite3
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.alerts import AlertDesk
from bot.callbacks import ReplyCb
from bot.languages import TeamLanguages
from storage.models import Alert, AlertMessage, AlertReply, Customer, CustomerStatus, ReplyDraft
from surveys import privacy
from surveys.alerts import AlertRules
from surveys.loader import load_survey
from surveys.model import Alert as AlertLimits
from surveys.model import QuestionKind
from tests.flows import buttons, connect, first_wave
from tests.support.fake_bot_api import ApiError, Call, TgUser, _Action
from tests.support.harness import OWNER_ID, STAFF_ID, Harness

TITLE = "⚠️ An unhappy customer"
RATING = "Purchase — Overall, how was your visit?"
FEELING = "Purchase — How did you feel when you left?"
BETTER = "Purchase — What could we have done better? A few words help us fix it."
THANKS = "Thank you! That's all for now 🙏"


def notifications(h: Harness, chat_id: int) -> list[dict[str, Any]]:
    """The alert notifications in a staff chat as they look now (after edits)."""
    return [m for m in h.api.messages_to(chat_id) if m.get("text", "").startswith(TITLE)]


def alert_edits(h: Harness) -> list[Call]:
    """Edits of the notifications in the staff's and the owner's chats."""
    team = {STAFF_ID, OWNER_ID}
    return [c for c in h.api.calls_of("editMessageText") if int(c.params["chat_id"]) in team]


def on_screen(h: Harness, user: TgUser) -> dict[str, Any]:
    """The newest survey message to this user (a staff member also gets alerts)."""
    return [m for m in h.api.messages_to(user.user_id) if m not in notifications(h, user.user_id)][
        -1
    ]


async def unhappy_visit(h: Harness, user: TgUser, ref: str, comment: str | None) -> None:
    """Wave 1 with a 2-star visit and a disappointed face; the comment if given."""
    question = await first_wave(h, user, ref)
    await h.click(user, question, "I've been here before")
    for answer in ("Something on the menu", "2 ⭐", "😞 Disappointment"):
        await h.click(user, on_screen(h, user), answer)
    if comment is not None:
        await h.send(user, comment)
        assert h.api.sent_texts(user.user_id)[-1] == THANKS


async def reply_from_staff(h: Harness, text: str, staff: TgUser | None = None) -> None:
    staff = staff or h.staff
    await h.click(staff, notifications(h, staff.user_id)[-1], "↩️ Reply")
    prompt = h.last_to(staff)
    assert prompt["text"].startswith("Send your reply to alice") and buttons(prompt) == ["Cancel"]
    await h.send(staff, text)


async def test_low_rating_alerts_every_staff_member_and_owner(harness: Harness) -> None:
    alice = harness.user(501)
    question = await first_wave(harness, alice, "alice")
    await harness.click(alice, question, "I've been here before")
    await harness.click(alice, harness.last_to(alice), "Something on the menu")
    await harness.click(alice, harness.last_to(alice), "2 ⭐")

    for chat in (STAFF_ID, OWNER_ID):
        [shown] = notifications(harness, chat)
        assert shown["text"] == f"{TITLE}\nCustomer: alice\n\n{RATING} ★★☆☆☆ ❗"
        assert buttons(shown) == ["↩️ Reply"]
    assert "501" not in notifications(harness, STAFF_ID)[0]["text"]  # never the Telegram id
    alert = await harness.scalar(select(Alert))
    assert (alert.stage, alert.segment, alert.replied_at) == ("purchase", None, None)
    assert await harness.count(AlertMessage) == 2


async def test_each_recipient_reads_the_alert_in_their_language(harness: Harness) -> None:
    owner = harness.user(OWNER_ID, language="ru")
    await harness.send(owner, "/help")  # the bot learns the owner's language from an update
    alice = harness.user(501)
    await unhappy_visit(harness, alice, "alice", "Cold coffee")

    [russian] = [m for m in harness.api.messages_to(OWNER_ID) if "⚠️" in m.get("text", "")]
    assert russian["text"] == (
        "⚠️ Недовольный клиент\nКлиент: alice\n\n"
        "Покупка — Как вам визит в целом? ★★☆☆☆ ❗\n"
        "Покупка — С каким настроением вы от нас ушли? 😞 Разочарование ❗\n"
        "Покупка — Что нам стоило сделать лучше? Пара слов поможет это исправить. "
        "«Cold coffee»"
    )
    assert buttons(russian) == ["↩️ Ответить"]
    assert notifications(harness, STAFF_ID)[0]["text"].startswith(TITLE)  # English
    await harness.click(owner, russian, "↩️ Ответить")
    assert harness.last_to(owner)["text"].startswith("Напишите ответ для alice")
    assert buttons(harness.last_to(owner)) == ["Отмена"]


async def test_follow_ups_edit_the_notification_instead_of_sending_another(
    harness: Harness,
) -> None:
    alice = harness.user(501)
    await unhappy_visit(harness, alice, "alice", "The coffee was cold")

    for chat in (STAFF_ID, OWNER_ID):
        [shown] = notifications(harness, chat)
        assert shown["text"] == (
            f"{TITLE}\nCustomer: alice\n\n"
            f"{RATING} ★★☆☆☆ ❗\n{FEELING} 😞 Disappointment ❗\n{BETTER} “The coffee was cold”"
        )
        sends = [
            c
            for c in harness.api.calls_of("sendMessage")
            if c.params["chat_id"] == chat and c.params["text"].startswith(TITLE)
        ]
        assert len(sends) == 1
    assert await harness.count(Alert) == 1
    edits = alert_edits(harness)
    assert len(edits) == 4 and all(edit.ok for edit in edits)  # emotion and comment, twice


async def test_an_answer_that_changes_nothing_shown_edits_nothing(harness: Harness) -> None:
    alice = harness.user(501)
    await unhappy_visit(harness, alice, "alice", None)
    before = alert_edits(harness)

    await harness.click(alice, on_screen(harness, alice), "Skip")  # the comment question

    assert harness.api.sent_texts(501)[-1] == THANKS
    assert alert_edits(harness) == before  # no edit answered "message is not modified"
    assert all(edit.ok for edit in before)


async def test_segment_and_nps_detractor_are_shown(harness: Harness) -> None:
    alice = harness.user(501)
    await connect(harness, alice, "alice", "downtown")
    harness.clock.advance(hours=2, minutes=1)
    await harness.drain()
    await harness.click(alice, harness.last_to(alice), "I've been here before")
    for answer in ("Something on the menu", "5 ⭐", "😍 Delight"):
        await harness.click(alice, harness.last_to(alice), answer)
    assert notifications(harness, STAFF_ID) == []
    harness.clock.advance(days=21)  # the loyalty wave asks the NPS
    await harness.drain()
    await harness.drain()
    for _ in range(6):
        shown = harness.last_to(alice)
        labels = buttons(shown)
        if "3" in labels:
            await harness.click(alice, shown, "3")
            break
        await harness.click(alice, shown, labels[0])
    [alerted] = notifications(harness, STAFF_ID)
    assert "Segment: downtown" in alerted["text"] and "NPS 3/10 ❗" in alerted["text"]


async def test_a_happy_wave_alerts_nobody(harness: Harness) -> None:
    carol = harness.user(503)
    question = await first_wave(harness, carol, "carol")
    await harness.click(carol, question, "I've been here before")
    for answer in ("Something on the menu", "3 ⭐", "😐 Nothing special"):
        await harness.click(carol, harness.last_to(carol), answer)
    await harness.send(carol, "A bit slow")

    assert harness.api.sent_texts(carol.user_id)[-1] == THANKS
    assert notifications(harness, STAFF_ID) == [] and notifications(harness, OWNER_ID) == []
    assert await harness.count(Alert) == 0


async def test_a_strongly_negative_emotion_alerts_even_after_kind_stars(
    harness: Harness,
) -> None:
    dave = harness.user(504)
    question = await first_wave(harness, dave, "dave")
    await harness.click(dave, question, "I've been here before")
    for answer in ("Something on the menu", "4 ⭐"):
        await harness.click(dave, harness.last_to(dave), answer)
    assert notifications(harness, STAFF_ID) == []
    await harness.click(dave, harness.last_to(dave), "😠 Irritation")

    [shown] = notifications(harness, STAFF_ID)
    assert shown["text"].endswith(f"{RATING} ★★★★☆\n{FEELING} 😠 Irritation ❗")


def test_alert_rules() -> None:
    survey = load_survey("cafe")
    rules = AlertRules(survey)
    assert rules.crosses(QuestionKind.RATING, 2, None)
    assert not rules.crosses(QuestionKind.RATING, 3, None)
    assert rules.crosses(QuestionKind.NPS, 6, None)
    assert not rules.crosses(QuestionKind.NPS, 7, None)
    assert rules.crosses(QuestionKind.EMOTION, None, -2)
    assert not rules.crosses(QuestionKind.EMOTION, None, -1)
    assert not rules.crosses(QuestionKind.CHOICE, 1, None)
    quiet = survey.model_copy(update={"alert": AlertLimits(valence_at_most=None)})
    assert not AlertRules(quiet).crosses(QuestionKind.EMOTION, None, -2)
    assert AlertRules(quiet).crossed({"visit_rating": [1, None, None]})


async def test_staff_reply_reaches_the_customer_and_the_exchange_is_stored(
    harness: Harness,
) -> None:
    alice = harness.user(501)
    await unhappy_visit(harness, alice, "alice", "The coffee was cold")
    harness.clock.advance(hours=1)

    await reply_from_staff(harness, "Sorry! Your next coffee is on us.")

    assert harness.api.sent_texts(501)[-1] == (
        "💬 Zerno Coffee, about your feedback:\n\nSorry! Your next coffee is on us."
    )
    assert harness.api.sent_texts(STAFF_ID)[-1] == "Delivered to alice ✅"
    for chat in (STAFF_ID, OWNER_ID):
        [shown] = notifications(harness, chat)
        assert shown["text"].endswith(
            f"\n\n✅ Answered by User100, {harness.clock.now:%-d %b %Y, %H:%M} (UTC)"
        )
    [(reply,)] = await harness.rows(select(AlertReply))
    assert (reply.direction, reply.status, reply.author_id, reply.text) == (
        "staff", "sent", STAFF_ID, "Sorry! Your next coffee is on us.",
    )  # fmt: skip
    assert reply.message_id == harness.api.last_message_to(501)["message_id"]
    alert = await harness.scalar(select(Alert))
    assert (alert.replied_by, alert.replied_at) == (STAFF_ID, harness.clock.now)
    assert await harness.count(ReplyDraft) == 0

    # The customer answers back: it goes to the staff member who replied.
    await harness.send(alice, "Thank you, see you tomorrow")
    assert (
        harness.api.sent_texts(501)[-1] == "Thank you — I've passed your message on to the team."
    )
    relayed = harness.last_to(harness.staff)
    assert relayed["text"] == "💬 alice answered:\n\nThank you, see you tomorrow"
    assert buttons(relayed) == ["↩️ Reply"]
    back = (await harness.rows(select(AlertReply).order_by(AlertReply.id)))[-1][0]
    assert (back.direction, back.status, back.text) == (
        "customer", "sent", "Thank you, see you tomorrow",
    )  # fmt: skip


async def test_customer_message_long_after_a_reply_is_not_relayed(harness: Harness) -> None:
    alice = harness.user(501)
    await unhappy_visit(harness, alice, "alice", "Cold coffee")
    await reply_from_staff(harness, "Sorry about that")
    harness.clock.advance(hours=73)

    await harness.send(alice, "hello?")
    assert "can't chat" in harness.api.sent_texts(501)[-1]
    assert await harness.count(AlertReply) == 1


async def test_cancel_keeps_the_staff_members_messages_to_themselves(harness: Harness) -> None:
    alice = harness.user(501)
    await unhappy_visit(harness, alice, "alice", "Cold coffee")
    await harness.click(harness.staff, notifications(harness, STAFF_ID)[-1], "↩️ Reply")
    await harness.click(harness.staff, harness.last_to(harness.staff), "Cancel")
    assert harness.last_to(harness.staff)["text"] == "Reply cancelled."

    sent_to_alice = len(harness.api.sent_texts(501))
    await harness.send(harness.staff, "note to self")
    assert len(harness.api.sent_texts(501)) == sent_to_alice
    assert await harness.count(AlertReply) == 0


async def test_the_draft_survives_a_restart(harness: Harness, database_url: str) -> None:
    alice = harness.user(501)
    await unhappy_visit(harness, alice, "alice", "Cold coffee")
    await harness.click(harness.staff, notifications(harness, STAFF_ID)[-1], "↩️ Reply")
    await harness.stop()

    async with Harness(harness.api, database_url, harness.clock) as again:
        await again.send(again.staff, "We are sorry, Alice")
        assert again.api.sent_texts(501)[-1].endswith("We are sorry, Alice")
        assert again.api.sent_texts(STAFF_ID)[-1] == "Delivered to alice ✅"
        assert (await again.scalar(select(Alert))).replied_by == STAFF_ID


async def test_forged_stale_and_strangers_replies_are_refused(harness: Harness) -> None:
    alice = harness.user(501)
    await unhappy_visit(harness, alice, "alice", "Cold coffee")
    alert = await harness.scalar(select(Alert))
    notice = notifications(harness, STAFF_ID)[-1]

    stranger = harness.user(777)
    await harness.api.wait_acked(
        stranger.click_data(notice["message_id"], ReplyCb(alert=alert.id).pack()), timeout=10
    )
    toast = harness.api.last("answerCallbackQuery").params
    assert (toast["text"], toast["show_alert"]) == ("This button is for the staff.", True)

    staff = harness.staff
    await harness.api.wait_acked(
        staff.click_data(notice["message_id"], ReplyCb(alert=alert.id + 1000).pack()), timeout=10
    )
    assert harness.api.last("answerCallbackQuery").params["text"] == "This alert no longer exists."
    for forged in ("ar:abc", "ar:0", "ar:99999999999999999999999"):
        await harness.api.wait_acked(staff.click_data(notice["message_id"], forged), timeout=10)
        assert harness.api.last("answerCallbackQuery").params["text"] == "This question is closed."
    assert await harness.count(ReplyDraft) == 0


async def test_staff_without_a_draft_get_the_normal_answer(harness: Harness) -> None:
    await harness.send(harness.staff, "hello")
    assert "can't chat" in harness.api.sent_texts(STAFF_ID)[-1]


async def test_staff_who_is_also_a_customer_can_still_answer_surveys(harness: Harness) -> None:
    staff = harness.staff
    await unhappy_visit(harness, staff, "staffer", None)
    prompt = on_screen(harness, staff)
    assert "What could we have done better?" in prompt["text"]

    await harness.send(staff, "Slow service")  # no draft: this is their survey comment
    assert harness.api.sent_texts(STAFF_ID)[-1] == THANKS
    assert (await harness.answers())[-1].comment == "Slow service"


async def test_customer_who_blocked_the_bot_staff_are_told(harness: Harness) -> None:
    alice = harness.user(501)
    await unhappy_visit(harness, alice, "alice", "Cold coffee")
    await harness.click(harness.staff, notifications(harness, STAFF_ID)[-1], "↩️ Reply")
    harness.api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")

    await harness.send(harness.staff, "Sorry!")

    assert harness.api.sent_texts(STAFF_ID)[-1] == "Not delivered: alice has blocked the bot."
    [reply] = await harness.rows(select(AlertReply))
    assert (reply[0].status, reply[0].message_id) == ("blocked", None)
    assert "403" in reply[0].error
    alert = await harness.scalar(select(Alert))
    assert alert.replied_at is None
    customer = await harness.scalar(select(Customer))
    assert customer.status == CustomerStatus.UNREACHABLE
    assert "Answered" not in notifications(harness, STAFF_ID)[-1]["text"]


async def test_a_reply_meeting_a_gateway_error_page_still_reaches_the_customer(
    harness: Harness,
) -> None:
    alice = harness.user(501)
    await unhappy_visit(harness, alice, "alice", "Cold coffee")
    await harness.click(harness.staff, notifications(harness, STAFF_ID)[-1], "↩️ Reply")
    harness.api.gateway_next("sendMessage", 502)  # a proxy's page: nothing was sent

    await harness.send(harness.staff, "Sorry!")

    assert sum("Sorry!" in text for text in harness.api.sent_texts(501)) == 1
    assert harness.api.sent_texts(STAFF_ID)[-1] == "Delivered to alice ✅"
    [reply] = await harness.rows(select(AlertReply))
    assert reply[0].status == "sent" and reply[0].message_id is not None


async def test_forget_erases_the_exchange_and_stops_replies(harness: Harness) -> None:
    alice = harness.user(501)
    await unhappy_visit(harness, alice, "alice", "Cold coffee")
    await reply_from_staff(harness, "Sorry about that")
    await harness.send(alice, "Thanks")

    await harness.send(alice, "/forget")
    await harness.click(alice, harness.last_to(alice), "Delete my data")

    texts = [r.text for (r,) in await harness.rows(select(AlertReply))]
    assert texts == [None, None]
    alert = await harness.scalar(select(Alert))
    assert alert.customer_id is None and alert.replied_by == STAFF_ID  # the figures stay
    for chat in (STAFF_ID, OWNER_ID):  # the copies in staff chats lose the customer's words
        [shown] = notifications(harness, chat)
        assert "Customer: (the customer deleted their data)" in shown["text"]
        assert "alice" not in shown["text"] and "Cold coffee" not in shown["text"]
        assert f"{RATING} ★★☆☆☆ ❗" in shown["text"]
        assert buttons(shown) == []  # nobody left to reply to
    # A Reply tapped on a copy that could not be redrawn is turned down.
    alert = await harness.scalar(select(Alert))
    notice = notifications(harness, STAFF_ID)[-1]
    await harness.api.wait_acked(
        harness.staff.click_data(notice["message_id"], ReplyCb(alert=alert.id).pack()),
        timeout=10,
    )
    toast = harness.api.last("answerCallbackQuery").params
    assert toast["text"].startswith("The customer deleted their data")
    assert await harness.count(ReplyDraft) == 0


async def test_a_recipient_who_blocked_the_bot_does_not_stop_the_others(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = harness.user(501)
    question = await first_wave(harness, alice, "alice")
    await harness.click(alice, question, "I've been here before")
    await harness.click(alice, harness.last_to(alice), "Something on the menu")
    send = harness.api._send_message

    def owner_blocked_the_bot(call: Call) -> Any:
        if call.params.get("chat_id") == OWNER_ID:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return send(call)

    with monkeypatch.context() as patch:
        patch.setitem(harness.api._handlers, "sendmessage", owner_blocked_the_bot)
        await harness.click(alice, harness.last_to(alice), "2 ⭐")

    assert notifications(harness, OWNER_ID) == []
    assert len(notifications(harness, STAFF_ID)) == 1
    assert "How did you feel" in harness.last_to(alice)["text"]  # the survey goes on
    assert await harness.count(Alert) == 1
    assert await harness.count(AlertMessage) == 1
    # Once the owner's chat works again, the next update of the alert reaches them too.
    await harness.click(alice, harness.last_to(alice), "😞 Disappointment")
    [shown] = notifications(harness, OWNER_ID)
    assert "Disappointment" in shown["text"]
    assert await harness.count(AlertMessage) == 2


async def test_reply_too_long_keeps_the_draft(harness: Harness) -> None:
    alice = harness.user(501)
    await unhappy_visit(harness, alice, "alice", "Cold coffee")
    await harness.click(harness.staff, notifications(harness, STAFF_ID)[-1], "↩️ Reply")
    await harness.send(harness.staff, "x" * 3501)
    assert "too long" in harness.api.sent_texts(STAFF_ID)[-1]
    assert await harness.count(ReplyDraft) == 1
    harness.clock.advance(hours=25)  # a forgotten draft no longer catches messages
    await harness.send(harness.staff, "unrelated")
    assert "can't chat" in harness.api.sent_texts(STAFF_ID)[-1]


CLEARED = "🗑 The customer deleted their data (/forget): this message was cleared."


async def test_forget_clears_every_staff_message_that_shows_the_customer(
    harness: Harness,
) -> None:
    alice, owner = harness.user(501), harness.user(OWNER_ID)
    await unhappy_visit(harness, alice, "alice", "Cold coffee")
    await reply_from_staff(harness, "Sorry about that")
    assert harness.api.sent_texts(STAFF_ID)[-1] == "Delivered to alice ✅"
    await harness.send(alice, "My order number is 4471")
    assert harness.api.sent_texts(STAFF_ID)[-1] == "💬 alice answered:\n\nMy order number is 4471"
    await harness.click(owner, notifications(harness, OWNER_ID)[-1], "↩️ Reply")  # pending
    assert harness.last_to(owner)["text"].startswith("Send your reply to alice")

    await harness.send(alice, "/forget")
    await harness.click(alice, harness.last_to(alice), "Delete my data")

    # The order's QR code (a photo) answered the staff's own "/order alice": it stays.
    for chat in (STAFF_ID, OWNER_ID):
        texts = [m["text"] for m in harness.api.messages_to(chat) if "text" in m]
        assert not [text for text in texts if "alice" in text or "4471" in text], texts
        assert not [text for text in texts if "Cold coffee" in text], texts
    staff = [(m["text"], buttons(m)) for m in harness.api.messages_to(STAFF_ID) if "text" in m]
    assert staff[1:] == [(CLEARED, [])] * 3  # the prompt, "Delivered", the relayed message
    owners = [(m["text"], buttons(m)) for m in harness.api.messages_to(OWNER_ID) if "text" in m]
    assert owners[1:] == [(CLEARED, [])]
    await harness.send(owner, "Hello?")  # the pending reply finds nobody to go to
    assert harness.api.sent_texts(OWNER_ID)[-1] == (
        "The customer deleted their data (/forget): they can't be answered."
    )


async def test_a_failed_update_is_logged_by_id_without_its_contents(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    alice = harness.user(501)
    alice.username = "alice_private"
    # not a transient error (those are retried until stored): the update fails for good
    broken = sqlite3.IntegrityError("CHECK constraint failed: My secret words")

    async def fails(*_args: object) -> None:
        raise IntegrityError("UPDATE customers SET locale=?", ("My secret words",), broken)

    monkeypatch.setattr(privacy, "profile", fails)
    with caplog.at_level(logging.INFO, logger="bot.middlewares"):
        update_id = alice.send_text("/help My secret words")
        await harness.api.wait_acked(update_id, timeout=10)

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f"update {update_id} (message) failed, nothing stored: IntegrityError" in logged
    for private in ("My secret words", "alice_private", "User501"):
        assert private not in logged
    assert re.search(r"\b501\b", logged) is None  # nor the user's id


async def test_an_alert_met_by_a_429_is_shown_once_after_retry_after(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The notification takes the bot's one send rate and its 429 pause, as replies do:
    flood control on the staff chat pauses sending, then the same notification goes out."""
    api = harness.api
    refused: list[Call] = []
    take = api._take_action

    def flood_on_the_first_notification(method: str) -> Any:
        call = api.calls[-1]  # the call being answered
        if method == "sendMessage" and int(call.params["chat_id"]) == STAFF_ID and not refused:
            refused.append(call)
            return _Action("fail", ApiError(429, "Too Many Requests: retry after 1", 1))
        return take(method)

    monkeypatch.setattr(api, "_take_action", flood_on_the_first_notification)
    alice = harness.user(501)
    question = await first_wave(harness, alice, "alice")
    await harness.click(alice, question, "I've been here before")
    await harness.click(alice, harness.last_to(alice), "Something on the menu")
    await harness.click(alice, harness.last_to(alice), "2 ⭐")
    await harness.app.replies.idle()

    for chat in (STAFF_ID, OWNER_ID):
        [shown] = notifications(harness, chat)
        assert shown["text"] == f"{TITLE}\nCustomer: alice\n\n{RATING} ★★☆☆☆ ❗"
    [flooded] = refused
    again = [
        c for c in api.calls_of("sendMessage") if c.params["chat_id"] == flooded.params["chat_id"]
    ]
    assert [c.ok for c in again] == [False, True]
    assert again[1].at - flooded.at >= 1.0  # the retry_after was honoured


async def test_with_nobody_to_tell_an_alert_is_not_even_read() -> None:
    """The notification reads the alert after the answer's commit; a shop without staff
    or owners configured pays nothing for it."""

    def no_reads() -> Any:
        raise AssertionError("the alert was read with nobody to tell")

    nobody = TeamLanguages(frozenset(), "en")
    desk = AlertDesk(no_reads, load_survey("cafe"), nobody, UTC, lambda: datetime.now(UTC))  # type: ignore[arg-type]
    await desk.notify(1)(None)  # type: ignore[arg-type]


async def test_an_alert_read_that_meets_a_dropped_connection_is_read_again(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alert is read after the answer's commit; a database that refuses that read once
    (a restart, a cut connection) delays the notification, it does not lose it."""
    import bot.alerts
    import storage.alerts

    real = storage.alerts.details_of_wave
    reads: list[int] = []

    async def refused_once(session: Any, dispatch_id: int) -> Any:
        reads.append(dispatch_id)
        if len(reads) == 1:
            raise ConnectionRefusedError(111, "Connect call failed")
        return await real(session, dispatch_id)

    monkeypatch.setattr(storage.alerts, "details_of_wave", refused_once)  # bot.alerts' `stored`
    monkeypatch.setattr(bot.alerts, "READ_RETRIES", (0.0,))
    alice = harness.user(501)
    question = await first_wave(harness, alice, "alice")
    await harness.click(alice, question, "I've been here before")
    await harness.click(alice, harness.last_to(alice), "Something on the menu")
    await harness.click(alice, harness.last_to(alice), "2 ⭐")

    for chat in (STAFF_ID, OWNER_ID):
        [shown] = notifications(harness, chat)
        assert shown["text"] == f"{TITLE}\nCustomer: alice\n\n{RATING} ★★☆☆☆ ❗"
    assert len(reads) >= 2
