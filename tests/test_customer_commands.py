"""The customer's controls and everything said to people the bot does not expect
(SPEC §4 "Linking a customer", "Interviewing"): /stop, /start, /forget, /language, /help,
deep links that no longer work, strangers and unknown commands."""

from __future__ import annotations

from sqlalchemy import select

from bot.commands import relink_customer
from storage.models import (
    Answer,
    Customer,
    CustomerStatus,
    DispatchStatus,
    LinkToken,
    Order,
)
from tests.flows import buttons, connect, first_wave, register_order
from tests.support.fake_bot_api import TgUser
from tests.support.harness import OWNER_ID, Harness

STOPPED = "Done — no more questions. /start to resume."
THANKS = "Thank you! That's all for now 🙏"


async def answer_first_wave_with_comment(h: Harness, user: TgUser, ref: str) -> None:
    question = await first_wave(h, user, ref)
    await h.click(user, question, "I've been here before")
    for answer in ("Something on the menu", "2 ⭐", "😞 Disappointment"):
        await h.click(user, h.last_to(user), answer)
    await h.send(user, "The coffee was cold")
    assert h.api.sent_texts(user.user_id)[-1] == THANKS


async def customer(h: Harness) -> Customer | None:
    result: Customer | None = await h.scalar(select(Customer))
    return result


# -- /stop and /start ----------------------------------------------------------------------


async def test_stop_cancels_every_planned_wave(harness: Harness) -> None:
    alice = harness.user(501)
    await connect(harness, alice, "alice")

    await harness.send(alice, "/stop")

    assert harness.api.sent_texts(501)[-1] == STOPPED
    waves = await harness.dispatches()
    assert [w.status for w in waves] == [DispatchStatus.CANCELLED] * 3
    assert all(w.due_at is None and w.closed_at == harness.clock.now for w in waves)
    found = await customer(harness)
    assert found is not None and found.status == CustomerStatus.STOPPED

    sent = len(harness.api.calls_of("sendMessage"))
    for days in (1, 3, 21):
        harness.clock.advance(days=days)
        report = await harness.drain()
        assert report.sent == 0, report
    assert len(harness.api.calls_of("sendMessage")) == sent


async def test_stop_during_a_wave_closes_its_buttons(harness: Harness) -> None:
    alice = harness.user(501)
    question = await first_wave(harness, alice, "alice")

    await harness.send(alice, "/stop")
    await harness.click(alice, question, "On social media")

    assert harness.api.sent_texts(501)[-1] == STOPPED  # the open one, too
    assert harness.api.last("answerCallbackQuery").params["text"] == "This question is closed."
    assert await harness.answers() == []


async def test_start_after_stop_offers_to_resume(harness: Harness) -> None:
    alice = harness.user(501)
    await connect(harness, alice, "alice")
    await harness.send(alice, "/stop")

    await harness.send(alice, "/start")

    offer = harness.last_to(alice)
    assert offer["text"] == "You opted out earlier. Shall I ask you about your purchases again?"
    assert buttons(offer) == ["Yes, resume"]
    await harness.click(alice, offer, "Yes, resume")

    resumed = harness.api.message(501, offer["message_id"])
    assert resumed["text"] == "Welcome back! I'll write after your next purchase."
    assert buttons(resumed) == []
    found = await customer(harness)
    assert found is not None and found.status == CustomerStatus.ACTIVE

    harness.clock.advance(days=15)  # past the cooldown: the next order is surveyed
    await harness.send(harness.staff, "/order alice")
    assert "already connected" in harness.api.sent_texts(100)[-1]


async def test_start_for_an_active_customer_and_a_stranger(harness: Harness) -> None:
    alice, stranger = harness.user(501), harness.user(777)
    await connect(harness, alice, "alice")

    await harness.send(alice, "/start")
    await harness.send(stranger, "/start")

    assert harness.api.sent_texts(501)[-1] == (
        "You're all set — I'll write when there's something to ask. /help"
    )
    assert harness.api.sent_texts(777)[-1].startswith(
        "Hi! I ask customers of Zerno Coffee about their experience."
    )


async def test_stop_from_a_stranger(harness: Harness) -> None:
    await harness.send(harness.user(777), "/stop")
    assert harness.api.sent_texts(777) == ["I'm not sending you anything. /help"]


# -- /forget -----------------------------------------------------------------------------------


async def test_forget_deletes_the_person_and_keeps_anonymous_figures(harness: Harness) -> None:
    alice = harness.user(501)
    await answer_first_wave_with_comment(harness, alice, "alice")

    await harness.send(alice, "/forget")
    confirm = harness.last_to(alice)
    assert confirm["text"].startswith("Delete everything I know about you?")
    assert buttons(confirm) == ["Delete my data", "Cancel"]
    await harness.click(alice, confirm, "Delete my data")

    done = harness.api.message(501, confirm["message_id"])
    assert done["text"] == "Deleted. I no longer know who you are. Goodbye, and thank you!"
    assert buttons(done) == []
    assert await harness.count(Customer) == 0
    assert await harness.count(LinkToken) == 0
    answers = await harness.answers()
    assert [(a.question_id, a.customer_id, a.comment) for a in answers] == [
        ("heard_from", None, None), ("chose_because", None, None),
        ("visit_rating", None, None), ("visit_emotion", None, None), ("visit_pain", None, None),
    ]  # fmt: skip
    assert answers[2].rating == 2 and answers[3].emotion == "disappointment"
    waves = await harness.dispatches()
    assert [w.status for w in waves] == [
        DispatchStatus.ANSWERED, DispatchStatus.CANCELLED, DispatchStatus.CANCELLED,
    ]  # fmt: skip
    assert {w.customer_id for w in waves} == {None}
    order = await harness.scalar(select(Order))
    assert order is not None and order.customer_id is None

    await harness.send(alice, "/start")  # a stranger again
    assert harness.api.sent_texts(501)[-1].startswith("Hi! I ask customers of")


async def test_forget_cancelled_keeps_everything(harness: Harness) -> None:
    alice = harness.user(501)
    await answer_first_wave_with_comment(harness, alice, "alice")

    await harness.send(alice, "/forget")
    confirm = harness.last_to(alice)
    await harness.click(alice, confirm, "Cancel")

    assert harness.api.message(501, confirm["message_id"])["text"] == "Nothing was deleted."
    found = await customer(harness)
    assert found is not None and (found.tg_user_id, found.status) == (501, CustomerStatus.ACTIVE)
    comments = await harness.rows(select(Answer.comment, Answer.customer_id))
    assert ("The coffee was cold", found.id) in comments
    assert [w.status for w in await harness.dispatches()][1:] == [DispatchStatus.PENDING] * 2


async def test_forget_acts_only_on_its_own_prompt_while_it_is_on_screen(
    harness: Harness,
) -> None:
    alice = harness.user(501, "ru")
    question = await first_wave(harness, alice, "alice")
    await harness.send(alice, "/forget")
    prompt = harness.last_to(alice)
    await harness.click(alice, prompt, "Отмена")
    cancelled = harness.api.message(501, prompt["message_id"])

    # "Delete my data" pressed on the cancelled prompt, and forged on the live question.
    for message_id in (prompt["message_id"], question["message_id"]):
        await harness.api.wait_acked(alice.click_data(message_id, "f:1"), timeout=10)
        toast = harness.api.last("answerCallbackQuery").params["text"]
        assert toast == "Эта кнопка больше не работает."

    found = await customer(harness)
    assert found is not None and (found.tg_user_id, found.status) == (501, CustomerStatus.ACTIVE)
    assert harness.api.message(501, prompt["message_id"]) == cancelled
    assert harness.api.message(501, question["message_id"]) == question  # buttons and all
    await harness.click(alice, question, "В соцсетях")  # the question still works
    assert [a.choice for a in await harness.answers()] == ["social"]


async def test_forget_from_a_stranger(harness: Harness) -> None:
    await harness.send(harness.user(777), "/forget")
    assert harness.api.sent_texts(777) == ["I have no data about you."]
    assert buttons(harness.last_to(harness.user(777))) == []


# -- /language -----------------------------------------------------------------------------------


async def test_language_switch_to_russian(harness: Harness) -> None:
    alice = harness.user(501)
    await connect(harness, alice, "alice")

    await harness.send(alice, "/language")
    menu = harness.last_to(alice)
    assert menu["text"] == "Choose your language:"
    assert sorted(buttons(menu)) == ["English", "Русский"]
    await harness.click(alice, menu, "Русский")

    assert harness.api.message(501, menu["message_id"])["text"] == (
        "Готово — буду говорить по-русски."
    )
    found = await customer(harness)
    assert found is not None and found.locale == "ru"
    harness.clock.advance(hours=2, minutes=1)
    assert (await harness.drain()).sent == 1
    question = harness.last_to(alice)
    assert "Как вы о нас узнали?" in question["text"]
    assert "От друзей или знакомых" in buttons(question)
    await harness.send(alice, "/help")
    assert harness.api.sent_texts(501)[-1].startswith("Это Кофейня «Зерно». После покупок")


# -- /help ---------------------------------------------------------------------------------------


async def test_help_for_a_customer(harness: Harness) -> None:
    await harness.send(harness.user(501), "/help")

    [text] = harness.api.sent_texts(501)
    assert "/stop — no more questions" in text and "/forget" in text and "/language" in text
    assert "/order" not in text


async def test_help_for_staff_and_owners_explains_orders(harness: Harness) -> None:
    await harness.send(harness.staff, "/help")
    await harness.send(harness.user(OWNER_ID), "/help")

    for chat in (100, OWNER_ID):
        [text] = harness.api.sent_texts(chat)
        assert "/stop" not in text and "/forget" not in text  # not customers: no survey
        assert "/language — change the language" in text
        assert "Staff: /order <customer ref> [segment] registers an order" in text


async def test_help_for_staff_who_are_customers_too(harness: Harness) -> None:
    staff = harness.staff
    await connect(harness, staff, "staff-own-card")
    await harness.send(staff, "/help")
    text = harness.api.sent_texts(100)[-1]
    assert "/stop — no more questions" in text
    assert "Staff: /order <customer ref> [segment] registers an order" in text


# -- strangers and mistakes ----------------------------------------------------------------------


async def test_order_from_a_stranger_is_refused(harness: Harness) -> None:
    stranger = harness.user(777)

    await harness.send(stranger, "/order +79990001122")
    await harness.send(stranger, "/report")

    assert harness.api.sent_texts(777) == [
        "Sorry, this command is for the staff of Zerno Coffee.",
        "Sorry, this command is for the owners of Zerno Coffee.",
    ]
    assert await harness.count(Order) == 0
    assert harness.api.calls_of("sendPhoto") == []


async def test_unknown_command(harness: Harness) -> None:
    await harness.send(harness.user(501), "/frobnicate now")
    await harness.send(harness.staff, "/frobnicate")

    assert harness.api.sent_texts(501) == ["I don't know that command. /help"]
    assert harness.api.sent_texts(100) == ["I don't know that command. /help"]


async def test_order_without_arguments_shows_usage(harness: Harness) -> None:
    await harness.send(harness.staff, "/order")
    await harness.send(harness.staff, "/order a b c")

    usage = "Usage: /order <customer ref> [segment]\nExample: /order +7 999 123-45-67 downtown"
    assert harness.api.sent_texts(100) == [usage, usage]
    assert await harness.count(Order) == 0


async def test_start_with_an_unknown_token(harness: Harness) -> None:
    await harness.send(harness.user(501), "/start no_such_token")
    await harness.send(harness.user(502), "/start " + "x" * 80)

    unknown = "This link doesn't work. Please ask the staff for a new one."
    assert harness.api.sent_texts(501) == [unknown]
    assert harness.api.sent_texts(502) == [unknown]


async def test_start_with_an_expired_token(harness: Harness) -> None:
    alice = harness.user(501)
    token = await register_order(harness, "alice")
    harness.clock.advance(days=7, minutes=1)  # CJM_LINK_TTL is 7 days

    await harness.send(alice, f"/start {token}")

    assert harness.api.sent_texts(501) == [
        "This link has expired. Please ask the staff for a new one."
    ]
    found = await customer(harness)
    assert found is not None and (found.tg_user_id, found.status) == (None, CustomerStatus.NEW)


async def test_start_with_a_token_used_by_someone_else(harness: Harness) -> None:
    alice, bob = harness.user(501), harness.user(502)
    token = await register_order(harness, "alice")
    await harness.send(alice, f"/start {token}")
    await harness.click(alice, harness.last_to(alice), "Yes, let's do it")

    await harness.send(bob, f"/start {token}")
    await harness.send(alice, f"/start {token}")

    assert harness.api.sent_texts(502) == [
        "This link has already been used. Please ask the staff for a new one."
    ]
    assert harness.api.sent_texts(501)[-1] == (
        "You're all set — I'll write when there's something to ask."
    )
    found = await customer(harness)
    assert found is not None and found.tg_user_id == 501


async def test_consent_buttons_answer_only_who_opened_the_link(harness: Harness) -> None:
    alice, bob = harness.user(501), harness.user(502)
    token = await register_order(harness, "alice")
    await harness.send(alice, f"/start {token}")
    consent = harness.last_to(alice)

    await harness.click(bob, consent, "Yes, let's do it")

    refusal = harness.api.last("answerCallbackQuery")
    assert refusal.params["text"] == "This button isn't for you."
    assert refusal.params["show_alert"] is True
    assert harness.api.message(501, consent["message_id"]) == consent
    found = await customer(harness)
    assert found is not None and (found.tg_user_id, found.status) == (None, CustomerStatus.NEW)
    assert await harness.dispatches() == []
    assert harness.api.sent_texts(502) == []

    await harness.click(alice, consent, "Yes, let's do it")  # the owner of the link still can
    found = await customer(harness)
    assert found is not None and found.tg_user_id == 501
    assert len(await harness.dispatches()) == 3


async def test_a_stranger_cannot_chat(harness: Harness) -> None:
    await harness.send(harness.user(777), "hello, is anyone there?")

    assert harness.api.sent_texts(777) == [
        "Thanks for the message! I'm a survey assistant and can't chat. /help"
    ]


async def test_text_while_a_rating_is_on_screen_asks_for_a_tap(harness: Harness) -> None:
    alice = harness.user(501)
    question = await first_wave(harness, alice, "alice")
    await harness.click(alice, question, "From friends or family")
    rating = harness.last_to(alice)
    assert "How easy was it to find us?" in rating["text"]

    await harness.send(alice, "pretty easy actually")

    assert harness.api.sent_texts(501)[-1] == "Please tap one of the buttons above ☝️"
    assert [a.question_id for a in await harness.answers()] == ["heard_from"]
    assert harness.api.message(501, rating["message_id"]) == rating
    await harness.click(alice, rating, "5 ⭐")  # still answerable
    assert [a.rating for a in await harness.answers()] == [None, 5]


# -- deep links cannot move a customer to another person --------------------------------------

TAKEN_RU = (
    "Эту ссылку уже открыли в другом аккаунте Telegram. Если она ваша, попросите, "
    "пожалуйста, у сотрудника новую."
)
OTHER_ACCOUNT = (
    "This link belongs to a customer connected from another Telegram account. If that's "
    "you, please ask the staff to move your account here."
)
ALL_SET = "You're all set — I'll write when there's something to ask."


async def test_a_link_opened_by_two_people_stays_with_the_first(harness: Harness) -> None:
    alice, bob = harness.user(501), harness.user(502, "ru")
    token = await register_order(harness, "alice")
    await harness.send(alice, f"/start {token}")
    consent = harness.last_to(alice)

    await harness.send(bob, f"/start {token}")

    assert harness.api.sent_texts(502) == [TAKEN_RU]
    await harness.click(alice, consent, "Yes, let's do it")
    found = await customer(harness)
    assert found is not None and (found.tg_user_id, found.status) == (501, CustomerStatus.ACTIVE)
    assert len(await harness.dispatches()) == 3
    await harness.send(bob, f"/start {token}")  # used now: refused as before
    assert harness.api.sent_texts(502)[-1] == (
        "Этой ссылкой уже воспользовались. Попросите, пожалуйста, новую у сотрудника."
    )


async def test_a_second_link_of_a_linked_customer_does_not_move_them(harness: Harness) -> None:
    alice, bob = harness.user(501), harness.user(502)
    first = await register_order(harness, "alice")
    second = await register_order(harness, "alice")  # before she connected: a second link
    await harness.send(alice, f"/start {first}")
    await harness.click(alice, harness.last_to(alice), "Yes, let's do it")

    await harness.send(bob, f"/start {second}")

    assert harness.api.sent_texts(502) == [OTHER_ACCOUNT]
    found = await customer(harness)
    assert found is not None and found.tg_user_id == 501
    await harness.send(alice, f"/start {second}")  # her own second link is hers to open
    assert harness.api.sent_texts(501)[-1].startswith("Hi! I'm the feedback assistant")


async def test_consent_on_a_link_whose_customer_got_linked_meanwhile_is_refused(
    harness: Harness,
) -> None:
    alice, bob = harness.user(501), harness.user(502)
    first = await register_order(harness, "alice")
    second = await register_order(harness, "alice")
    await harness.send(bob, f"/start {second}")  # alice is not linked yet: bob may open it
    bobs_consent = harness.last_to(bob)
    await harness.send(alice, f"/start {first}")
    await harness.click(alice, harness.last_to(alice), "Yes, let's do it")
    planned = [(d.id, d.customer_id, d.status) for d in await harness.dispatches()]

    await harness.click(bob, bobs_consent, "Yes, let's do it")

    refusal = harness.api.last("answerCallbackQuery")
    assert (refusal.params["text"], refusal.params["show_alert"]) == (OTHER_ACCOUNT, True)
    assert harness.api.message(502, bobs_consent["message_id"]) == bobs_consent
    found = await customer(harness)
    assert found is not None and found.tg_user_id == 501
    assert [(d.id, d.customer_id, d.status) for d in await harness.dispatches()] == planned
    assert harness.api.sent_texts(502) == [bobs_consent["text"]]


async def test_staff_relink_moves_the_customer_with_their_pending_waves(
    harness: Harness,
) -> None:
    alice, bob, carol = harness.user(501), harness.user(502), harness.user(503)
    await connect(harness, alice, "alice")
    await connect(harness, carol, "carol")
    theirs = await harness.scalar(select(Customer.id).where(Customer.ref == "alice"))
    planned = [(d.id, d.status) for d in await harness.dispatches() if d.customer_id == theirs]

    code, printed = await relink_customer(harness.settings, "alice")

    assert code == 0
    token = printed.rsplit("?start=", 1)[1]
    assert printed.startswith("alice stays on their Telegram account until someone opens")
    await harness.send(carol, f"/start {token}")  # another customer's account cannot
    assert harness.api.sent_texts(503)[-1] == (
        "This Telegram account is already connected as another customer, so it can't take "
        "this link. Please ask the staff."
    )
    await harness.send(bob, f"/start {token}")
    await harness.click(bob, harness.last_to(bob), "Yes, let's do it")
    assert harness.api.sent_texts(502)[-1] == (
        "Thank you! The first questions will come today at 14:00 (UTC)."
    )
    found = await harness.scalar(select(Customer).where(Customer.ref == "alice"))
    assert (found.tg_user_id, found.chat_id, found.status) == (502, 502, CustomerStatus.ACTIVE)
    after = [(d.id, d.status) for d in await harness.dispatches() if d.customer_id == theirs]
    assert after == planned  # the same waves, still pending: now bob's
    await harness.send(alice, "/start")
    assert harness.api.sent_texts(501)[-1].startswith("Hi! I ask customers of")
    harness.clock.advance(hours=2, minutes=1)
    await harness.drain()
    assert "How did you first hear about us?" in harness.api.sent_texts(502)[-1]
