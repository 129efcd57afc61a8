"""A customer's first weeks, message by message (issue 10): the language they chose, the
consent buttons, late orders, what they may send, reminders and dates."""

from __future__ import annotations

from tests.flows import buttons, connect
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
