"""A customer's first weeks, message by message (issue 10): the language they chose, the
consent buttons, late orders, what they may send, reminders and dates."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.commands import status
from storage.db import make_engine
from storage.models import LinkToken, TeamLanguage
from surveys.formats import soon
from surveys.journeys import NewOrder
from tests.flows import buttons, connect, first_wave, register_order
from tests.support.clock import FakeClock
from tests.support.fake_bot_api import (
    FakeBotAPI,
    TgUser,
    find_button,
    make_callback_update,
    make_message_update,
)
from tests.support.harness import OWNER_ID, STAFF_ID, Harness

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
    """Taps in quick succession: all reach the bot (in one batch of updates) before its
    reply to the first took the keyboard away, so each carries the message with it."""
    pushed = [
        h.api.push_update(
            make_callback_update(
                user.as_dict(), message, find_button(message, label)["callback_data"],
                update_id=h.api.next_update_id(),
            )
        )
        for label in labels
    ]  # fmt: skip
    await h.api.wait_acked(pushed[-1], timeout=10)


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


# -- reminders, /stop, a skipped comment, the NPS scale ------------------------------------


async def test_a_reminder_takes_over_the_buttons_of_the_question(harness: Harness) -> None:
    mia = harness.user(610)
    question = await first_wave(harness, mia, "mia")
    await harness.click(mia, question, "I've been here before")
    left_open = harness.last_to(mia)  # "What made you choose us?"
    assert buttons(left_open)

    harness.clock.advance(hours=20)
    assert (await harness.drain()).outcomes == {"reminded": 1}

    reminder = harness.last_to(mia)
    assert reminder["message_id"] != left_open["message_id"]
    assert buttons(reminder) == buttons(left_open)
    assert buttons(harness.api.message(610, left_open["message_id"])) == []
    await harness.click(mia, reminder, "Something on the menu")
    assert [a.question_id for a in await harness.answers()][-1] == "chose_because"


async def test_a_reminder_of_the_first_question_closes_the_first_message(
    harness: Harness,
) -> None:
    mia = harness.user(611)
    question = await first_wave(harness, mia, "mia")
    harness.clock.advance(hours=20)
    assert (await harness.drain()).outcomes == {"reminded": 1}
    assert buttons(harness.api.message(611, question["message_id"])) == []
    assert buttons(harness.last_to(mia))[0] == "From friends or family"


async def test_stop_says_nothing_about_planned_surveys(harness: Harness) -> None:
    alice, ivan = harness.user(612), harness.user(613, language="ru")
    await connect(harness, alice, "alice")
    await connect(harness, ivan, "ivan")
    await harness.send(alice, "/stop")
    await harness.send(alice, "/stop")
    await harness.send(ivan, "/stop")

    assert harness.api.sent_texts(612)[-2:] == ["Done — no more questions. /start to resume."] * 2
    assert harness.api.sent_texts(613)[-1] == (
        "Готово — больше никаких вопросов. /start — возобновить."
    )


async def test_a_skipped_comment_reads_skipped(harness: Harness) -> None:
    dave = harness.user(614)
    question = await first_wave(harness, dave, "dave")
    await harness.click(dave, question, "I've been here before")
    for answer in ("Something on the menu", "1 ⭐", "😠 Irritation"):
        await harness.click(dave, harness.last_to(dave), answer)
    prompt = harness.last_to(dave)
    await harness.click(dave, prompt, "Skip")

    assert harness.api.message(614, prompt["message_id"])["text"] == (
        "<b>What could we have done better? A few words help us fix it.</b>\n\n⏭ Skipped"
    )


async def test_the_nps_question_states_its_scale_once(harness: Harness) -> None:
    ivan = harness.user(615, language="ru")
    await connect(harness, ivan, "ivan")
    harness.clock.advance(days=21, hours=3)
    await harness.drain()
    await harness.click(ivan, harness.last_to(ivan), "Да")
    await harness.click(ivan, harness.last_to(ivan), "5 ⭐")
    for _ in range(3):  # the emotions asked before it, if any
        if "😍 Восторг" not in buttons(harness.last_to(ivan)):
            break
        await harness.click(ivan, harness.last_to(ivan), "😍 Восторг")

    assert harness.api.sent_texts(615)[-1] == (
        "<b>Насколько вероятно, что вы посоветуете нас друзьям или знакомым?</b>\n\n"
        "0 — точно нет, 10 — обязательно"
    )


# -- dates with the year and the zone, in the bot and the CLI alike -------------------------


@pytest.fixture
async def moscow(api: FakeBotAPI, sqlite_url: str, clock: FakeClock) -> AsyncIterator[Harness]:
    async with Harness(api, sqlite_url, clock, timezone="Europe/Moscow") as running:
        yield running


async def test_consent_says_today_with_the_zone(moscow: Harness) -> None:
    alice, ivan = moscow.user(620), moscow.user(621, language="ru")
    await connect(moscow, alice, "alice")
    await connect(moscow, ivan, "ivan")

    # Registered at 12:00 UTC on 23 November: 15:00 in Moscow, the first wave two hours on.
    assert moscow.api.sent_texts(620)[-1] == (
        "Thank you! The first questions will come today at 17:00 (MSK)."
    )
    assert (
        moscow.api.sent_texts(621)[-1] == "Спасибо! Первые вопросы придут сегодня в 17:00 (МСК)."
    )


def test_a_coming_moment_is_today_tomorrow_or_a_date() -> None:
    now = datetime(2026, 11, 23, 17, 30, tzinfo=UTC)  # 20:30 in Moscow
    moscow = ZoneInfo("Europe/Moscow")
    tomorrow_morning = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    assert soon(tomorrow_morning, now, moscow, "en") == "tomorrow at 09:00 (MSK)"
    assert soon(tomorrow_morning, now, moscow, "ru") == "завтра в 09:00 (МСК)"
    assert soon(now + timedelta(minutes=20), now, moscow, "ru") == "сегодня в 20:50 (МСК)"
    later = now + timedelta(days=3)
    assert soon(later, now, moscow, "en") == "26 Nov 2026, 20:30 (MSK)"
    assert soon(later, now, moscow, "ru") == "26 ноября 2026 г. в 20:30 (МСК)"
    # After 21:00 UTC it is already the next day in Moscow: "today" is Moscow's.
    late = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)
    assert soon(late + timedelta(hours=9), late, moscow, "en") == "today at 09:30 (MSK)"


async def test_the_order_link_is_valid_until_a_local_date(moscow: Harness) -> None:
    await moscow.send(moscow.staff, "/order bob")

    caption = moscow.api.last("sendPhoto").params["caption"]
    assert "send them the link — it works until 30 Nov 2026, 15:00 (MSK):\n" in caption


def test_the_cli_prints_local_time_with_the_zone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CJM_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}")
    monkeypatch.setenv("CJM_BOT_USERNAME", "zerno_bot")
    monkeypatch.setenv("CJM_TIMEZONE", "Europe/Moscow")

    assert main(["order", "add", "bob"]) == 0

    out = capsys.readouterr().out
    assert re.search(r"link valid until \d{1,2} [A-Z][a-z]{2} 20\d\d, \d\d:\d\d \(MSK\):\n", out)


# -- what a customer may send while a comment is awaited ------------------------------------


async def at_the_comment(h: Harness, user: TgUser, ref: str) -> dict[str, Any]:
    """The first wave, answered down to its text question ("What could we have done…")."""
    await first_wave(h, user, ref)
    labels = ("I've been here before", "Something on the menu", "1 ⭐", "😠 Irritation")
    if user.language_code == "ru":
        labels = ("Я здесь не в первый раз", "Что-то из меню", "1 ⭐", "😠 Раздражение")
    for answer in labels:
        await h.click(user, h.last_to(user), answer)
    return h.last_to(user)


def without_text(h: Harness, user: TgUser, **content: Any) -> dict[str, Any]:
    update = make_message_update(
        user.as_dict(), "x", update_id=h.api.next_update_id(),
        message_id=h.api.next_message_id(user.user_id),
    )  # fmt: skip
    del update["message"]["text"]
    update["message"].update(content)
    return update


PHOTO = [{"file_id": "p1", "file_unique_id": "u1", "width": 90, "height": 90}]
STICKER = {
    "file_id": "s1", "file_unique_id": "u2", "type": "regular", "width": 512, "height": 512,
    "is_animated": False, "is_video": False,
}  # fmt: skip


async def test_a_photo_or_a_sticker_gets_a_clear_reply(harness: Harness) -> None:
    dave = harness.user(630)
    await at_the_comment(harness, dave, "dave")

    await harness.push(without_text(harness, dave, photo=PHOTO))
    await harness.push(without_text(harness, dave, sticker=STICKER))

    assert (
        harness.api.sent_texts(630)[-2:]
        == ["I can only keep text: please write your answer in a message."] * 2
    )
    assert [a.question_id for a in await harness.answers()][-1] == "visit_emotion"


async def test_a_photo_while_a_button_question_waits(harness: Harness) -> None:
    ivan = harness.user(631, language="ru")
    await first_wave(harness, ivan, "ivan")
    await harness.push(without_text(harness, ivan, photo=PHOTO))
    assert harness.api.sent_texts(631)[-1] == "Пожалуйста, нажмите одну из кнопок выше ☝️"


async def test_an_edited_message_gets_a_clear_reply(harness: Harness) -> None:
    dave = harness.user(632)
    await at_the_comment(harness, dave, "dave")
    message = make_message_update(
        dave.as_dict(), "The coffee was cold", update_id=harness.api.next_update_id(),
        message_id=harness.api.next_message_id(632),
    )["message"]  # fmt: skip
    message["edit_date"] = message["date"] + 5

    await harness.push({"update_id": harness.api.next_update_id(), "edited_message": message})

    assert harness.api.sent_texts(632)[-1] == (
        "I don't see edits to messages: please send what you wanted to say as a new message."
    )


async def test_a_comment_over_the_limit_is_refused_with_the_limit(harness: Harness) -> None:
    dave, ivan = harness.user(633), harness.user(634, language="ru")
    await at_the_comment(harness, dave, "dave")
    await at_the_comment(harness, ivan, "ivan")

    await harness.send(dave, "a" * 3001)
    await harness.send(ivan, "б" * 5000)

    assert harness.api.sent_texts(633)[-1] == (
        "That's 3,001 characters, and I can keep up to 3,000 characters: please shorten it "
        "and send it again."
    )
    assert harness.api.sent_texts(634)[-1] == (
        "Здесь 5\xa0000 символов, а я могу сохранить не больше 3\xa0000 символов: сократите, "
        "пожалуйста, и отправьте ещё раз."
    )
    assert [a.question_id for a in await harness.answers()][-1] == "visit_emotion"
    await harness.send(dave, "a" * 3000)
    assert (await harness.answers())[-1].comment == "a" * 3000


# -- staff and owners: the survey's language until they write, theirs kept across restarts ---

ALERT_RU = "⚠️ Недовольный клиент"
ALERT_EN = "⚠️ An unhappy customer"


async def unhappy(h: Harness, user: TgUser, ref: str) -> None:
    await first_wave(h, user, ref)
    for answer in ("I've been here before", "Something on the menu", "2 ⭐"):
        await h.click(user, h.last_to(user), answer)


def alert_titles(h: Harness, chat_id: int) -> list[str]:
    texts = [m.get("text", "") for m in h.api.messages_to(chat_id)]
    return [text.split("\n")[0] for text in texts if text.startswith("⚠️")]


async def test_without_a_default_locale_the_team_reads_the_surveys_language(
    api: FakeBotAPI, sqlite_url: str, clock: FakeClock
) -> None:
    async with Harness(api, sqlite_url, clock, default_locale=None) as h:
        await unhappy(h, h.user(640), "alice")  # the cafe survey's default_locale is ru
        assert alert_titles(h, OWNER_ID) == [ALERT_RU]  # has not written yet
        assert alert_titles(h, STAFF_ID) == [ALERT_EN]  # wrote /order in English


async def test_the_teams_languages_survive_a_restart(
    api: FakeBotAPI, sqlite_url: str, clock: FakeClock
) -> None:
    async with Harness(api, sqlite_url, clock, default_locale=None) as h:
        await h.send(h.user(STAFF_ID, language="en"), "/help")  # Telegram's language
        owner = h.user(OWNER_ID, language="ru")
        await h.send(owner, "/language")
        menu = h.last_to(owner)
        await h.click(owner, menu, "English")  # chosen: beats Telegram's
        assert h.api.message(OWNER_ID, menu["message_id"])["text"] == (
            "Done — I'll speak English."
        )
    async with Harness(api, sqlite_url, clock, default_locale=None) as h:
        await unhappy(h, h.user(641), "bob")
        assert alert_titles(h, STAFF_ID) == [ALERT_EN]
        assert alert_titles(h, OWNER_ID) == [ALERT_EN]
        await h.send(h.user(OWNER_ID, language="ru"), "/help")
        assert h.api.sent_texts(OWNER_ID)[-1].startswith("I'm the feedback assistant of")
    rows = await _team_languages(sqlite_url)
    assert rows == [(OWNER_ID, "en", True), (STAFF_ID, "en", False)]


async def _team_languages(url: str) -> list[tuple[int, str, bool]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(TeamLanguage.user_id, TeamLanguage.locale, TeamLanguage.chosen).order_by(
                    TeamLanguage.user_id
                )
            )
            return [tuple(row) for row in rows]  # type: ignore[misc]
    finally:
        await engine.dispose()


async def test_a_stranger_choosing_a_language_is_told_it_is_not_kept(harness: Harness) -> None:
    stranger = harness.user(642)
    await harness.send(stranger, "/language")
    await harness.click(stranger, harness.last_to(stranger), "Русский")

    toast = harness.api.last("answerCallbackQuery").params
    assert toast["text"] == (
        "I'll remember your language once you join with the link from your order."
    )


# -- orders registered late -----------------------------------------------------------------


async def late_order(h: Harness, user: TgUser, ref: str, days: float) -> None:
    """An order whose purchase was `days` ago (as the API or an import registers it),
    and the customer says yes."""
    purchased = h.clock.now - timedelta(days=days)
    async with h.app.sessions.begin() as session:
        receipt = await h.app.services.journeys.register_order(
            session, NewOrder(ref, f"late-{ref}", purchased, None, "api"), h.clock.now
        )
    await h.send(user, f"/start {receipt.link_token}")
    yes = "Да, давайте" if user.language_code == "ru" else "Yes, let's do it"
    await h.click(user, h.last_to(user), yes)


async def test_a_day_old_purchase_is_asked_about_without_today(harness: Harness) -> None:
    alice = harness.user(650)
    await late_order(harness, alice, "alice", days=1)
    assert (
        harness.api.sent_texts(650)[-1] == "Thank you! The first questions will come in a moment."
    )

    assert (await harness.drain()).sent == 1
    for answer in ("I've been here before", "Something on the menu", "4 ⭐", "😍 Delight"):
        await harness.click(alice, harness.last_to(alice), answer)

    said = "\n".join(harness.api.sent_texts(650))
    assert "A few quick questions about your visit" in said
    assert "today" not in said.lower(), said


async def test_a_ten_day_old_purchase_skips_the_waves_whose_moment_passed(
    harness: Harness,
) -> None:
    bob = harness.user(651)
    await late_order(harness, bob, "bob", days=10)

    assert harness.api.sent_texts(651)[-1] == (
        "Thank you! The first questions will come 4 Dec 2026, 12:00 (UTC)."
    )
    shown = await status(harness.settings)
    assert "   skipped: 2\n" in shown
    assert (
        "            1 × after_purchase: too late when the order arrived: asked 2h to 3d2h "
        "after the purchase\n"
        "            1 × first_use: too late when the order arrived: asked 3d to 7d after the "
        "purchase"
    ) in shown


async def test_a_purchase_too_old_for_every_wave_is_not_promised_questions(
    harness: Harness,
) -> None:
    ivan = harness.user(652, language="ru")
    await late_order(harness, ivan, "ivan", days=40)

    assert harness.api.sent_texts(652)[-1] == (
        "Спасибо! Та покупка была давно, поэтому о ней спрашивать не буду — напишу после "
        "следующей."
    )


async def test_a_photo_from_staff_is_not_answered_as_from_a_customer(harness: Harness) -> None:
    await harness.push(without_text(harness, harness.staff, photo=PHOTO))
    assert harness.api.sent_texts(STAFF_ID)[-1] == "I only read text messages and commands. /help"


async def test_a_decline_says_how_to_change_ones_mind(harness: Harness) -> None:
    ivan = harness.user(653, language="ru")
    token = await register_order(harness, "ivan")
    await harness.send(ivan, f"/start {token}")
    await harness.click(ivan, harness.last_to(ivan), "Нет, спасибо")

    assert harness.api.sent_texts(653)[-1] == (
        "Понятно — писать не буду. Если передумаете, откройте ту же ссылку ещё раз, пока она "
        "действует, или попросите новую при следующем заказе."
    )


async def test_resuming_speaks_the_chosen_language(harness: Harness) -> None:
    ivan = harness.user(654, language="ru")
    await connect(harness, ivan, "ivan")
    await harness.send(ivan, "/language")
    await harness.click(ivan, harness.last_to(ivan), "English")
    await harness.send(ivan, "/stop")
    await harness.send(ivan, "/start")
    offer = harness.last_to(ivan)
    await harness.click(ivan, offer, "Yes, resume")

    assert harness.api.message(654, offer["message_id"])["text"] == (
        "Welcome back! I'll write after your next purchase."
    )


async def test_an_expired_link_forgets_who_declined_it(harness: Harness) -> None:
    bob = harness.user(655)
    token = await register_order(harness, "bob")
    await harness.send(bob, f"/start {token}")
    await harness.click(bob, harness.last_to(bob), "No, thanks")
    assert await harness.scalar(select(LinkToken.opened_by)) == 655

    harness.clock.advance(days=8)  # past the link's 7 days
    prune = harness.app.scheduler.get_job("prune_updates")
    assert prune is not None
    await prune.func()

    assert await harness.scalar(select(LinkToken.opened_by)) is None


async def test_the_acknowledgement_of_a_message_to_staff_speaks_the_chosen_language(
    harness: Harness,
) -> None:
    ivan = harness.user(656, language="ru")
    await first_wave(harness, ivan, "ivan")
    await harness.send(ivan, "/language")
    await harness.click(ivan, harness.last_to(ivan), "English")
    await harness.click(ivan, harness.api.messages_to(656)[-2], "Я здесь не в первый раз")
    for answer in ("Something on the menu", "2 ⭐", "😞 Disappointment", "Skip"):
        await harness.click(ivan, harness.last_to(ivan), answer)
    assert harness.api.sent_texts(656)[-1] == "Thank you! That's all for now 🙏"
    alert = [m for m in harness.api.messages_to(STAFF_ID) if m.get("text", "").startswith("⚠️")]
    await harness.click(harness.staff, alert[-1], "↩️ Reply")
    await harness.send(harness.staff, "Sorry! Come back for a free coffee.")

    await harness.send(ivan, "Thank you, I will")

    assert harness.api.sent_texts(656)[-1] == (
        "Thank you — I've passed your message on to the team."
    )
