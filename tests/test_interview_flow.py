"""The first vertical slice end to end: staff → link → consent → waves → answers."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storage.models import Customer, CustomerStatus, DispatchStatus, Journey, Order
from tests.flows import buttons, connect, first_wave, register_order
from tests.support.harness import Harness


async def test_staff_order_gives_link_and_qr_code(harness: Harness) -> None:
    token = await register_order(harness, "+79990001122", "downtown")

    photo = harness.api.last("sendPhoto")
    assert photo.params["chat_id"] == 100
    _, png = photo.files["photo"]
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 500
    assert len(token) <= 64
    order = await harness.scalar(select(Order))
    assert (order.segment, order.journey, order.source) == (
        "downtown",
        Journey.AWAITING_LINK,
        "bot",
    )


async def test_customer_consents_and_journey_is_planned(harness: Harness) -> None:
    alice = harness.user(501)
    token = await register_order(harness, "alice")
    await harness.send(alice, f"/start {token}")

    consent = harness.last_to(alice)
    assert "Shall we?" in consent["text"] and "/stop" in consent["text"]
    assert buttons(consent) == ["Yes, let's do it", "No, thanks"]
    await harness.click(alice, consent, "Yes, let's do it")

    assert "The first questions will come" in harness.last_to(alice)["text"]
    customer = await harness.scalar(select(Customer))
    assert (customer.tg_user_id, customer.status, customer.locale) == (
        501,
        CustomerStatus.ACTIVE,
        "en",
    )
    waves = await harness.dispatches()
    assert [(d.wave_id, d.status) for d in waves] == [
        ("after_purchase", DispatchStatus.PENDING),
        ("first_use", DispatchStatus.PENDING),
        ("loyalty", DispatchStatus.PENDING),
    ]
    start = harness.clock.now
    assert waves[0].due_at == start + timedelta(hours=2)
    assert waves[1].due_at == start + timedelta(days=3)


async def test_declining_keeps_nothing_but_the_decline(harness: Harness) -> None:
    bob = harness.user(502)
    token = await register_order(harness, "bob")
    await harness.send(bob, f"/start {token}")
    await harness.click(bob, harness.last_to(bob), "No, thanks")

    assert "I won't write to you" in harness.api.sent_texts(502)[-1]
    customer = await harness.scalar(select(Customer))
    assert (customer.status, customer.tg_user_id, customer.locale) == ("declined", None, None)
    assert await harness.dispatches() == []


async def test_whole_wave_with_follow_up_only_when_low(harness: Harness) -> None:
    alice = harness.user(501)
    question = await first_wave(harness, alice, "alice")
    assert "How did you first hear about us?" in question["text"]

    await harness.click(alice, question, "From friends or family")
    edited = harness.api.message(501, question["message_id"])
    assert "✅ From friends or family" in edited["text"] and buttons(edited) == []
    for answer in ("4 ⭐", "Close by or on my way", "2 ⭐"):
        await harness.click(alice, harness.last_to(alice), answer)
    emotion = harness.last_to(alice)
    assert "How did you feel when you left?" in emotion["text"]
    await harness.click(alice, emotion, "😞 Disappointment")
    prompt = harness.last_to(alice)  # rating 2 <= 3: the pain-point follow-up is asked
    assert "What could we have done better?" in prompt["text"]
    await harness.send(alice, "The coffee was cold and the queue was long")

    assert harness.api.sent_texts(501)[-1] == "Thank you! That's all for now 🙏"
    answers = await harness.answers()
    assert [(a.question_id, a.stage) for a in answers] == [
        ("heard_from", "awareness"), ("find_rating", "awareness"),
        ("chose_because", "consideration"), ("visit_rating", "purchase"),
        ("visit_emotion", "purchase"), ("visit_pain", "purchase"),
    ]  # fmt: skip
    assert answers[0].choice == "friends" and answers[1].rating == 4
    assert (answers[4].emotion, answers[4].valence) == ("disappointment", -2)
    assert answers[5].comment == "The coffee was cold and the queue was long"
    assert {a.survey_id for a in answers} == {"cafe"}
    wave = (await harness.dispatches())[0]
    assert wave.status == DispatchStatus.ANSWERED and wave.opened_at and wave.closed_at


async def test_follow_up_not_asked_when_condition_fails(harness: Harness) -> None:
    carol = harness.user(503)
    question = await first_wave(harness, carol, "carol")
    await harness.click(carol, question, "I've been here before")  # find_rating: != regular
    assert "What made you choose us today?" in harness.last_to(carol)["text"]
    for answer in ("Something on the menu", "5 ⭐", "😍 Delight"):
        await harness.click(carol, harness.last_to(carol), answer)

    assert harness.api.sent_texts(503)[-1] == "Thank you! That's all for now 🙏"
    asked = [a.question_id for a in await harness.answers()]
    assert asked == ["heard_from", "chose_because", "visit_rating", "visit_emotion"]


async def test_text_question_can_be_skipped(harness: Harness) -> None:
    dave = harness.user(504)
    question = await first_wave(harness, dave, "dave")
    await harness.click(dave, question, "I've been here before")
    for answer in ("Something on the menu", "1 ⭐", "😠 Irritation"):
        await harness.click(dave, harness.last_to(dave), answer)
    await harness.click(dave, harness.last_to(dave), "Skip")

    pain = (await harness.answers())[-1]
    assert (pain.question_id, pain.skipped, pain.comment) == ("visit_pain", True, None)


async def test_order_for_linked_customer_schedules_at_once(harness: Harness) -> None:
    erin = harness.user(505)
    await connect(harness, erin, "erin")
    harness.clock.advance(days=15)  # past the cafe survey's 14-day cooldown
    await harness.send(harness.staff, "/order erin")

    assert "already connected" in harness.api.sent_texts(100)[-1]
    orders = await harness.rows(select(Order.journey).order_by(Order.id))
    assert [o.journey for o in orders] == [Journey.SCHEDULED, Journey.SCHEDULED]


async def test_cooldown_blocks_a_second_journey(harness: Harness) -> None:
    erin = harness.user(505)
    await connect(harness, erin, "erin")
    harness.clock.advance(days=2)
    await harness.send(harness.staff, "/order erin")

    assert "surveyed recently" in harness.api.sent_texts(100)[-1]
    assert len(await harness.dispatches()) == 3


async def test_russian_customer_gets_russian_texts(harness: Harness) -> None:
    olga = harness.user(506, language="ru")
    question = await first_wave(harness, olga, "olga")
    assert "Как вы о нас узнали?" in question["text"]
    assert "Несколько быстрых вопросов" in question["text"]


async def test_command_menus_per_role_and_language(harness: Harness) -> None:
    menus = {
        (call.params["scope"]["type"], call.params["scope"].get("chat_id"),
         call.params.get("language_code")): [c["command"] for c in call.params["commands"]]
        for call in harness.api.calls_of("setMyCommands")
    }  # fmt: skip

    customer = ["help", "continue", "stop", "forget", "language"]
    assert menus[("default", None, None)] == customer
    assert menus[("default", None, "ru")] == customer
    for language in (None, "ru"):
        assert menus[("chat", 100, language)] == ["order", "help"]  # CJM_STAFF_IDS
        assert menus[("chat", 1, language)] == ["report", "order", "help"]  # CJM_OWNER_IDS
