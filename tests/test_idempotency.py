"""At-least-once delivery made exactly-once (SPEC §4 "Delivery semantics"): double taps,
forged and stale buttons, replayed updates. Every callback query is answered."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot.callbacks import AnswerCb
from storage.models import (
    Answer,
    Customer,
    CustomerStatus,
    Dispatch,
    DispatchStatus,
    Order,
    ProcessedUpdate,
)
from tests.flows import LINK, buttons, first_wave, register_order
from tests.support.fake_bot_api import (
    Call,
    TgUser,
    find_button,
    make_callback_update,
    make_message_update,
)
from tests.support.harness import Harness

FIRST_QUESTION = "How did you first hear about us?"
SECOND_QUESTION = "How easy was it to find us?"
CLOSED = "This question is closed."
NOT_YOURS = "This button isn't for you."
GONE = "This button no longer works."
ALREADY = "Already answered — thank you!"


def tap_update(h: Harness, user: TgUser, message: dict[str, Any], button: str) -> dict[str, Any]:
    """The update a tap on `message` as the user sees it produces (possibly a stale copy)."""
    data = find_button(message, button)["callback_data"]
    return make_callback_update(user, message, data, update_id=h.api.next_update_id())


def new_id(h: Harness) -> int:
    return h.api.next_update_id()


def callback_id(update: dict[str, Any]) -> str:
    return str(update["callback_query"]["id"])


def answers_to(h: Harness, update: dict[str, Any]) -> list[Call]:
    """The answerCallbackQuery calls made for this update's callback query."""
    wanted = callback_id(update)
    return [
        c for c in h.api.calls_of("answerCallbackQuery") if c.params["callback_query_id"] == wanted
    ]


def toast(h: Harness, update: dict[str, Any]) -> str | None:
    [answered] = answers_to(h, update)
    text = answered.params.get("text")
    return None if text is None else str(text)


async def forged(h: Harness, user: TgUser, message_id: int, data: str) -> dict[str, Any]:
    update = make_callback_update(
        user, h.api.message(user.user_id, message_id), data, update_id=h.api.next_update_id()
    )
    await h.push(update)
    return update


def sends_to(h: Harness, user: TgUser) -> list[Call]:
    return [
        c
        for c in h.api.calls
        if c.method in ("sendMessage", "sendPhoto", "editMessageText", "editMessageReplyMarkup")
        and c.params.get("chat_id") == user.user_id
    ]


# -- double taps ---------------------------------------------------------------------------


async def test_double_tap_stores_one_answer_and_answers_both_queries(harness: Harness) -> None:
    alice = harness.user(501)
    question = await first_wave(harness, alice, "alice")

    first = tap_update(harness, alice, question, "From friends or family")
    harness.api.push_update(first)
    second = tap_update(harness, alice, question, "From friends or family")  # before the edit
    await harness.push(second)

    answers = await harness.answers()
    assert [(a.question_id, a.choice) for a in answers] == [("heard_from", "friends")]
    assert toast(harness, first) is None  # the edited message says it all
    assert toast(harness, second) == ALREADY
    edited = harness.api.message(501, question["message_id"])
    assert "✅ From friends or family" in edited["text"] and buttons(edited) == []
    asked = [t for t in harness.api.sent_texts(501) if SECOND_QUESTION in t]
    assert len(asked) == 1  # the next question came once


async def test_two_different_buttons_tapped_at_once_keep_the_first(harness: Harness) -> None:
    alice = harness.user(501)
    question = await first_wave(harness, alice, "alice")

    first = tap_update(harness, alice, question, "On social media")
    harness.api.push_update(first)
    second = tap_update(harness, alice, question, "From friends or family")
    await harness.push(second)

    assert [a.choice for a in await harness.answers()] == ["social"]
    assert toast(harness, second) == ALREADY
    assert "✅ On social media" in harness.api.message(501, question["message_id"])["text"]


# -- forged callbacks ------------------------------------------------------------------------


async def test_tap_with_another_customers_dispatch_is_refused(harness: Harness) -> None:
    alice, bob = harness.user(501), harness.user(502)
    alice_question = await first_wave(harness, alice, "alice")
    bob_question = await first_wave(harness, bob, "bob")
    alice_data = AnswerCb.unpack(find_button(alice_question, "On social media")["callback_data"])
    bob_data = AnswerCb.unpack(find_button(bob_question, "On social media")["callback_data"])
    assert alice_data.d != bob_data.d

    update = await forged(harness, bob, bob_question["message_id"], alice_data.pack())
    # Against a message Telegram no longer shows the bot, the data itself is checked.
    old = {"message_id": bob_question["message_id"], "date": 0, "chat": bob.chat()}
    inaccessible = make_callback_update(bob, old, alice_data.pack(), update_id=new_id(harness))
    await harness.push(inaccessible)

    assert toast(harness, update) == CLOSED  # not a button of bob's message
    assert toast(harness, inaccessible) == NOT_YOURS
    assert await harness.answers() == []
    assert harness.api.message(501, alice_question["message_id"]) == alice_question
    assert harness.api.message(502, bob_question["message_id"]) == bob_question
    dispatch = await harness.scalar(select(Dispatch).where(Dispatch.id == alice_data.d))
    assert (dispatch.status, dispatch.progress, dispatch.opened_at) == (
        DispatchStatus.SENT,
        {},
        None,
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("a:{d}:heard_from:9", CLOSED),  # the choice has six options
        ("a:{d}:heard_from:-1", CLOSED),  # Skip exists only under text questions
        ("a:{d}:visit_rating:9", CLOSED),  # not the question on screen
        ("a:{d}:visit_rating:3", CLOSED),
        ("a:{d}:no_such_question:1", CLOSED),
        ("a:999999:heard_from:1", CLOSED),  # no such dispatch
        ("a:99999999999999999999:heard_from:1", CLOSED),  # beyond any id column
        ("a:0:heard_from:1", CLOSED),
        ("a:{d}:heard_from", CLOSED),  # malformed: not an answer at all
        ("a:x:heard_from:1", CLOSED),
        ("zzz", CLOSED),
        # Buttons of other screens, none of them on this one: nothing done, nothing edited.
        ("c:999:1", GONE),  # a consent button for a link nobody opened
        ("c:99999999999999999999:1", GONE),
        ("f:1", GONE),  # /forget's "Delete my data" with no /forget prompt
        ("f:0", GONE),
        ("ax", GONE),  # a staff member's "Cancel" of a reply ("Reply cancelled.")
        ("r", GONE),  # "Yes, resume"
        ("l:ru", GONE),
    ],
)
async def test_forged_callback_data_stores_nothing(
    harness: Harness, data: str, expected: str
) -> None:
    alice = harness.user(501)
    question = await first_wave(harness, alice, "alice")
    dispatch_id = AnswerCb.unpack(find_button(question, "On social media")["callback_data"]).d
    before = len(sends_to(harness, alice))

    update = await forged(harness, alice, question["message_id"], data.format(d=dispatch_id))

    assert toast(harness, update) == expected
    assert await harness.answers() == []
    assert len(sends_to(harness, alice)) == before
    assert harness.api.message(501, question["message_id"]) == question
    found = await harness.scalar(select(Customer))
    assert (found.tg_user_id, found.status, found.locale) == (501, CustomerStatus.ACTIVE, "en")
    # The real button still works afterwards.
    await harness.click(alice, question, "On social media")
    assert [a.choice for a in await harness.answers()] == ["social"]


# -- stale buttons -----------------------------------------------------------------------------


async def test_button_of_an_answered_question_changes_nothing(harness: Harness) -> None:
    alice = harness.user(501)
    question = await first_wave(harness, alice, "alice")
    stale_data = find_button(question, "On social media")["callback_data"]
    await harness.click(alice, question, "From friends or family")
    await harness.click(alice, harness.last_to(alice), "4 ⭐")
    before = len(sends_to(harness, alice))

    update = await forged(harness, alice, question["message_id"], stale_data)

    assert toast(harness, update) == CLOSED  # the edit took its buttons away
    answers = await harness.answers()
    assert [(a.question_id, a.choice, a.rating) for a in answers] == [
        ("heard_from", "friends", None),
        ("find_rating", None, 4),
    ]
    assert len(sends_to(harness, alice)) == before


async def test_button_of_a_question_the_wave_skipped_is_closed(harness: Harness) -> None:
    alice = harness.user(501)
    question = await first_wave(harness, alice, "alice")
    await harness.click(alice, question, "I've been here before")  # find_rating is not asked
    dispatch_id = AnswerCb.unpack(find_button(question, "On social media")["callback_data"]).d

    update = await forged(harness, alice, question["message_id"], f"a:{dispatch_id}:find_rating:5")

    assert toast(harness, update) == CLOSED
    assert [a.question_id for a in await harness.answers()] == ["heard_from"]


async def test_button_of_an_expired_wave_is_closed(harness: Harness) -> None:
    alice = harness.user(501)
    question = await first_wave(harness, alice, "alice")
    async with harness.app.sessions.begin() as session:
        await session.execute(
            update(Dispatch)
            .where(Dispatch.wave_id == "after_purchase")
            .values(status=DispatchStatus.EXPIRED)
        )
    before = len(sends_to(harness, alice))

    tap = tap_update(harness, alice, question, "On social media")
    await harness.push(tap)

    assert toast(harness, tap) == CLOSED
    assert await harness.answers() == []
    assert len(sends_to(harness, alice)) == before


async def test_wave_expired_by_the_clock_takes_no_more_answers(harness: Harness) -> None:
    alice = harness.user(501)
    question = await first_wave(harness, alice, "alice")
    await harness.click(alice, question, "From friends or family")
    second = harness.last_to(alice)
    harness.clock.advance(days=3, minutes=1)  # the cafe's first wave expires after 3 days
    await harness.drain()
    wave = (await harness.dispatches())[0]
    assert (wave.wave_id, wave.status) == ("after_purchase", DispatchStatus.EXPIRED)

    tap = tap_update(harness, alice, second, "5 ⭐")
    await harness.push(tap)

    assert toast(harness, tap) == CLOSED
    assert [a.question_id for a in await harness.answers()] == ["heard_from"]
    assert buttons(harness.api.message(501, second["message_id"])) != []  # not edited


# -- replayed updates ----------------------------------------------------------------------------


async def test_replayed_tap_update_is_handled_once(harness: Harness) -> None:
    alice = harness.user(501)
    question = await first_wave(harness, alice, "alice")
    tap = tap_update(harness, alice, question, "From friends or family")
    await harness.push(tap)
    sent_before = len(harness.api.calls_of("sendMessage"))
    edits_before = len(harness.api.calls_of("editMessageText"))

    await harness.app.dp.feed_raw_update(harness.app.bot, tap)  # the same update_id again

    assert [a.question_id for a in await harness.answers()] == ["heard_from"]
    assert len(harness.api.calls_of("sendMessage")) == sent_before
    assert len(harness.api.calls_of("editMessageText")) == edits_before
    assert all(c.params.get("text") is None for c in answers_to(harness, tap))


async def test_replayed_comment_is_stored_once(harness: Harness) -> None:
    dave = harness.user(504)
    question = await first_wave(harness, dave, "dave")
    await harness.click(dave, question, "I've been here before")
    for answer in ("Something on the menu", "2 ⭐", "😞 Disappointment"):
        await harness.click(dave, harness.last_to(dave), answer)
    comment = make_message_update(
        dave, "Cold coffee", update_id=harness.api.next_update_id(),
        message_id=harness.api.next_message_id(dave.user_id),
    )  # fmt: skip
    await harness.push(comment)
    sent = harness.api.sent_texts(504)

    await harness.app.dp.feed_raw_update(harness.app.bot, comment)

    assert harness.api.sent_texts(504) == sent
    assert sent[-1] == "Thank you! That's all for now 🙏"
    comments = [a.comment for a in await harness.answers() if a.comment]
    assert comments == ["Cold coffee"]


async def test_replayed_order_update_creates_one_order(harness: Harness) -> None:
    order = make_message_update(
        harness.staff, "/order +79990001122 downtown", update_id=harness.api.next_update_id(),
        message_id=harness.api.next_message_id(harness.staff.user_id),
    )  # fmt: skip
    await harness.push(order)

    await harness.app.dp.feed_raw_update(harness.app.bot, order)

    assert await harness.count(Order) == 1
    assert len(harness.api.calls_of("sendPhoto")) == 1


async def test_same_order_message_in_a_new_update_registers_it_once(harness: Harness) -> None:
    """A message re-delivered under another update id (e.g. the update log was pruned)."""
    message_id = harness.api.next_message_id(harness.staff.user_id)
    for _ in range(2):
        await harness.push(
            make_message_update(
                harness.staff, "/order bob", update_id=harness.api.next_update_id(),
                message_id=message_id,
            )
        )  # fmt: skip

    assert await harness.count(Order) == 1
    captions = [c.params["caption"] for c in harness.api.calls_of("sendPhoto")]
    tokens = {match.group(2) for c in captions if (match := LINK.search(c))}
    assert len(captions) == 2 and len(tokens) == 1  # the same link both times


async def test_replayed_consent_starts_one_journey(harness: Harness) -> None:
    alice = harness.user(501)
    token = await register_order(harness, "alice")
    await harness.send(alice, f"/start {token}")
    accept = tap_update(harness, alice, harness.last_to(alice), "Yes, let's do it")
    await harness.push(accept)

    await harness.app.dp.feed_raw_update(harness.app.bot, accept)

    assert await harness.count(Dispatch) == 3
    thanks = [t for t in harness.api.sent_texts(501) if t.startswith("Thank you!")]
    assert len(thanks) == 1


async def test_update_ids_are_remembered_in_the_database(harness: Harness) -> None:
    alice = harness.user(501)
    question = await first_wave(harness, alice, "alice")
    tap = tap_update(harness, alice, question, "On social media")
    await harness.push(tap)

    seen = await harness.scalar(
        select(func.count())
        .select_from(ProcessedUpdate)
        .where(ProcessedUpdate.update_id == tap["update_id"])
    )
    assert seen == 1
    assert await harness.count(Answer) == 1
