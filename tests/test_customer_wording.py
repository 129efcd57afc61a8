"""A customer's first weeks, message by message (issue 10): the language they chose, the
consent buttons, late orders, what they may send, reminders and dates."""

from __future__ import annotations

from typing import Any

from tests.flows import buttons, connect, register_order
from tests.support.fake_bot_api import TgUser, find_button
from tests.support.harness import Harness

# -- the language a customer chose beats Telegram's ----------------------------------------


async def test_a_chosen_language_beats_telegrams_everywhere(harness: Harness) -> None:
    ivan = harness.user(601, language="ru")
    await connect(harness, ivan, "ivan")
    await harness.send(ivan, "/language")
    await harness.click(ivan, harness.last_to(ivan), "English")

    await harness.send(ivan, "Hello there")
    assert harness.api.sent_texts(601)[-1] == (
        "Thanks for the message! I'm a survey assistant and can't chat. /help"
    )
    await harness.send(ivan, "/nosuch")
    assert harness.api.sent_texts(601)[-1] == "I don't know that command. /help"
    await harness.send(ivan, "/language")
    assert harness.api.sent_texts(601)[-1] == "Choose your language:"


async def test_the_language_prompt_speaks_the_chosen_language(harness: Harness) -> None:
    alice = harness.user(602)
    await connect(harness, alice, "alice")
    await harness.send(alice, "/language")
    await harness.click(alice, harness.last_to(alice), "Русский")

    await harness.send(alice, "/language")
    menu = harness.last_to(alice)
    assert menu["text"] == "Выберите язык:"
    assert sorted(buttons(menu)) == ["English", "Русский"]


# -- consent: a double tap, a change of mind -------------------------------------------------


async def tap_twice(h: Harness, user: TgUser, message: dict[str, Any], *labels: str) -> None:
    """Two taps on the same keyboard, the second before the first's reply removed it."""
    for label in labels:
        data = find_button(message, label)["callback_data"]
        await h.api.wait_acked(user.click_data(message["message_id"], data), timeout=10)


async def test_a_double_tap_on_yes_is_no_error(harness: Harness) -> None:
    alice = harness.user(603)
    token = await register_order(harness, "alice")
    await harness.send(alice, f"/start {token}")
    consent = harness.last_to(alice)

    await tap_twice(harness, alice, consent, "Yes, let's do it", "Yes, let's do it")

    toast = harness.api.last("answerCallbackQuery").params
    assert toast.get("text") is None and not toast.get("show_alert")
    thanks = [t for t in harness.api.sent_texts(603) if t.startswith("Thank you!")]
    assert len(thanks) == 1
    assert len(await harness.dispatches()) == 3


async def test_no_then_yes_changes_the_persons_mind(harness: Harness) -> None:
    alice = harness.user(604)
    token = await register_order(harness, "alice")
    await harness.send(alice, f"/start {token}")
    consent = harness.last_to(alice)

    await tap_twice(harness, alice, consent, "No, thanks", "Yes, let's do it")

    assert harness.api.last("answerCallbackQuery").params.get("text") is None
    assert harness.api.sent_texts(604)[-1].startswith("Thank you! The first questions will come")
    assert len(await harness.dispatches()) == 3


async def test_a_declined_link_opened_again_asks_again(harness: Harness) -> None:
    alice, bob = harness.user(605), harness.user(606)
    token = await register_order(harness, "alice")
    await harness.send(alice, f"/start {token}")
    await harness.click(alice, harness.last_to(alice), "No, thanks")

    await harness.send(bob, f"/start {token}")
    assert harness.api.sent_texts(606) == [
        "This link has already been used. Please ask the staff for a new one."
    ]
    await harness.send(alice, f"/start {token}")
    again = harness.last_to(alice)
    assert again["text"].endswith("Shall we?")
    await harness.click(alice, again, "Yes, let's do it")
    assert harness.api.sent_texts(605)[-1].startswith("Thank you! The first questions will come")
