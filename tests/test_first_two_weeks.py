"""A real shop's first two weeks (issue 10), end to end through the fake Bot API over HTTP:
a fresh install in Moscow; an owner and two staff who speak Russian; customers in Russian
and English (one switches with /language); links opened at once, a day late and too late;
a quiet-hours night; a photo where a comment is asked; a silent customer (reminders); an
unhappy customer whom staff answer; and one weekly report.

Each person's side of the chat — what they did and every message they received, edits
included, with the Moscow time — must equal tests/data/first_two_weeks/<person>.txt, which
was read line by line as that person would read it. The Russians read no English (the
chat, the report's summary and its HTML file); no report for the week before the first
order; no empty report; no error or traceback in the log.

CJM_TRANSCRIPT=path writes the owner's, a staff member's and a customer's transcripts to
that file (for the closing note); CJM_TRANSCRIPT_UPDATE=1 rewrites the expected files
after a deliberate change of wording (review their diff)."""

from __future__ import annotations

import html
import logging
import os
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.reply_sender import CHAT_BURST, ChatPacer
from storage.models import Alert, Dispatch, DispatchStatus, ReportDelivery
from tests.flows import LINK
from tests.support.clock import FakeClock
from tests.support.fake_bot_api import FakeBotAPI, TgUser, make_message_update
from tests.support.harness import Harness
from tests.support.story import Story, english_words

EXPECTED = Path(__file__).parent / "data" / "first_two_weeks"
MSK = timedelta(hours=3)
OWNER, ANNA, BORIS = 1, 100, 101  # the owner and two staff
OLGA, JOHN, PAVEL, MARIA = 201, 202, 203, 204
PHOTO = [{"file_id": "p1", "file_unique_id": "u1", "width": 90, "height": 90}]
SETTINGS: dict[str, Any] = {
    "owner_ids": frozenset({OWNER}), "staff_ids": frozenset({ANNA, BORIS}),
    "timezone": "Europe/Moscow", "quiet_hours": "21:00-09:00", "default_locale": "ru",
}  # fmt: skip
TRANSCRIPT_HEAD = """\
## The first two weeks, as three people saw them

From tests/test_first_two_weeks.py (`CJM_TRANSCRIPT=file pytest tests/test_first_two_weeks.py`
writes this again). Times are Moscow time; `[…]` are buttons under a message; "(message N now
reads)" is an edit of an earlier message; "(message N: no buttons)" is its keyboard taken
away. The cafe's owner and staff speak Russian; Olga is a Russian-speaking customer.
"""
WEEKLY_SUMMARY = (
    "Кафе: путь гостя\n"
    "23.11.2026–29.11.2026\n"
    "22 ответа · отклик 67\xa0%\n"
    "\n"
    "Пока мало ответов, чтобы судить об этапах: 2 клиента (нужно 5 на этап).\n"
    "\n"
    "Недовольные клиенты: 2 · ответ за 24 ч: 1 (50\xa0%) · медиана до ответа 25 мин\n"
    "\n"
    "Карта и полный отчёт — во вложении."
)


def msk(day: int, hour: int, minute: int = 0) -> datetime:
    """A Moscow time in the shop's first weeks (23 November – 6 December 2026), as UTC."""
    month = 11 if day > 20 else 12
    return datetime(2026, month, day, hour, minute, tzinfo=UTC) - MSK


def token(h: Harness) -> str:
    """The deep link's token in the latest QR code's caption."""
    match = LINK.search(h.api.last("sendPhoto").params["caption"])
    assert match is not None
    return match.group(2)


def masked(text: str) -> str:
    """Link tokens are random: the transcripts show <token>."""
    text = LINK.sub("https://t.me/cjm_test_bot?start=<token>", text)
    return re.sub(r"(/start) [A-Za-z0-9_-]{20,}", r"\1 <token>", text)


def photo_from(h: Harness, user: TgUser) -> dict[str, Any]:
    update = make_message_update(
        user.as_dict(), "", update_id=h.api.next_update_id(),
        message_id=h.api.next_message_id(user.user_id),
    )  # fmt: skip
    del update["message"]["text"]
    update["message"]["photo"] = PHOTO
    return update


def visible_text(page: str) -> str:
    """The words of an HTML page a reader sees: no tags, styles or scripts."""
    page = re.sub(r"(?s)<(style|script)\b.*?</\1>", " ", page)
    return html.unescape(re.sub(r"(?s)<[^>]+>", " ", page))


class People:
    def __init__(self, story: Story, api: FakeBotAPI) -> None:
        self.owner = story.person(api.user(OWNER, "Ирина", "ru"), "Irina (owner)")
        self.anna = story.person(api.user(ANNA, "Анна", "ru"), "Anna (staff)")
        self.boris = story.person(api.user(BORIS, "Борис", "ru"), "Boris (staff)")
        self.olga = story.person(api.user(OLGA, "Ольга", "ru"), "Olga (customer, ru)")
        self.john = story.person(api.user(JOHN, "John", "en"), "John (customer, en)")
        self.pavel = story.person(api.user(PAVEL, "Павел", "ru"), "Pavel (customer, ru)")
        self.maria = story.person(api.user(MARIA, "Мария", "ru"), "Maria (customer, ru → en)")

    def all(self) -> dict[str, TgUser]:
        return {
            "owner": self.owner, "anna": self.anna, "boris": self.boris, "olga": self.olga,
            "john": self.john, "pavel": self.pavel, "maria": self.maria,
        }  # fmt: skip


async def first_week(story: Story, p: People) -> tuple[str, str]:
    """Monday to Sunday: returns the tokens of Pavel's and Maria's links, opened later."""
    h = story.h
    # Installed on Monday noon, after the weekly report's hour: the week before had no
    # order, so the owner gets nothing.
    await story.job("weekly_report")
    await story.says(p.owner, "/start")
    await story.says(p.owner, "/help")
    await story.says(p.anna, "/help")
    # Olga buys at noon and opens the link at once.
    await story.says(p.anna, "/order +7 999 111-22-33")
    await story.says(p.olga, f"/start {token(h)}")
    await story.taps(p.olga, "Да, давайте")
    # John buys at 20:30: his questions would fall at 22:30, in the quiet hours.
    await story.wait(msk(23, 20, 30))
    await story.says(p.boris, "/order 4455 центр")
    await story.says(p.john, f"/start {token(h)}")
    await story.taps(p.john, "Yes, let's do it")
    await story.says(p.anna, "/order 89990002222")  # Pavel opens it a day later
    pavel = token(h)
    await story.says(p.boris, "/order 7788")  # Maria, ten days later
    maria = token(h)

    await story.wait(msk(24, 12))
    await story.says(p.pavel, f"/start {pavel}")
    await story.taps(p.pavel, "Да, давайте")
    # Olga answers her first wave after its reminder: an unhappy visit, a photo first.
    for answer in ("Вывеска или витрина по пути", "4 ⭐", "Цены", "2 ⭐", "😞 Разочарование"):
        await story.taps(p.olga, answer)
    await story.sends(p.olga, photo_from(h, p.olga), "(sends a photo)")
    await story.says(p.olga, "Долго ждала кофе, и он был холодный")
    await story.wait(msk(24, 12, 25))
    await story.taps(p.anna, "↩️ Ответить")
    await story.says(p.anna, "Ольга, простите! Следующий кофе за наш счёт.")
    await story.says(p.olga, "Спасибо, зайду")
    # John got his questions at 9:00; he answers in English.
    for answer in ("From friends or family", "5 ⭐", "The atmosphere", "5 ⭐", "😍 Delight"):
        await story.taps(p.john, answer)

    await story.wait(msk(28, 12))  # Pavel stays silent
    for answer in ("3 ⭐", "😐 Ничего особенного", "2 ⭐", "😠 Раздражение", "Пока не знаю"):
        await story.taps(p.olga, answer)
    await story.says(p.olga, "Цены высоковаты")
    for answer in ("4 ⭐", "😊 Joy", "4 ⭐", "😊 Joy", "Yes, definitely"):
        await story.taps(p.john, answer)
    return pavel, maria


async def second_week(story: Story, p: People, maria: str) -> None:
    # Monday 30 November, 9:00 in Moscow: the weekly report.
    await story.wait(msk(30, 9, 5))
    await story.job("weekly_report")
    # Maria opens her link ten days after the order: it has expired; Boris gives a new one.
    await story.wait(msk(3, 13))
    await story.says(p.maria, f"/start {maria}")
    await story.says(p.boris, "/order 7788")
    await story.says(p.maria, f"/start {token(story.h)}")
    await story.taps(p.maria, "Да, давайте")
    await story.says(p.maria, "/language")
    await story.taps(p.maria, "English")
    await story.wait(msk(3, 16))
    for answer in ("I've been here before", "Habit", "5 ⭐", "😊 Joy"):
        await story.taps(p.maria, answer)
    await story.wait(msk(6, 20))  # to Sunday evening: no second weekly report yet


async def test_the_first_two_weeks(
    api: FakeBotAPI,
    sqlite_url: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One message a second per chat is Telegram's pace, in real seconds; the story's taps
    # come faster than any person's, so the pacer is let run at 50 a second here.
    monkeypatch.setattr(ChatPacer.__init__, "__defaults__", (50.0, CHAT_BURST))
    caplog.set_level(logging.INFO)
    clock = FakeClock(msk(23, 12))
    async with Harness(api, sqlite_url, clock, **SETTINGS) as h:
        story = Story(h)
        people = People(story, api)
        _, maria = await first_week(story, people)
        await second_week(story, people, maria)

        transcripts = {
            key: masked(story.transcript(person, MSK)) + "\n"
            for key, person in people.all().items()
        }
        write_transcripts(story, people, transcripts)
        for key, text in transcripts.items():
            assert text == (EXPECTED / f"{key}.txt").read_text(encoding="utf-8"), key

        russians = (people.owner, people.anna, people.boris, people.olga, people.pavel)
        for person in russians:
            for text in story.texts(person):
                assert not english_words(text), (story.names[person.user_id], text)
        assert the_weekly_report(story, people.owner) == WEEKLY_SUMMARY
        page = api.last("sendDocument").files["document"][1].decode()
        assert not english_words(visible_text(page))
        assert "Кафе: путь гостя" in page and "4,5" in page and "3.5" not in visible_text(page)
        await the_database_agrees(h)

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [r.getMessage() for r in errors]
    assert "Traceback" not in caplog.text


def the_weekly_report(story: Story, owner: TgUser) -> str:
    """The one weekly summary the owner got (followed by the map and the HTML file)."""
    received = story.received(owner)
    summaries = [i for i, text in enumerate(received) if text.startswith("Кафе: путь гостя")]
    assert len(summaries) == 1, summaries
    first = summaries[0]
    assert received[first + 1] == "(photo)"
    assert received[first + 2] == "(file report-2026-11-23-2026-11-29.html)"
    return received[first]


async def the_database_agrees(h: Harness) -> None:
    async with h.session() as session:
        weeks = {row.week: (row.status, row.locale) for row in await session.scalars(
            select(ReportDelivery).where(ReportDelivery.owner_id == OWNER)
        )}  # fmt: skip
        alerts = list(await session.scalars(select(Alert).order_by(Alert.id)))
        statuses = sorted(d.status for d in await session.scalars(select(Dispatch)))
    assert weeks == {date(2026, 11, 23): ("empty", "ru"), date(2026, 11, 30): ("sent", "ru")}
    assert [(a.replied_by, a.replied_at) for a in alerts] == [
        (ANNA, msk(24, 12, 25)), (None, None),
    ]  # fmt: skip
    assert statuses.count(DispatchStatus.EXPIRED) == 2  # Pavel's two waves
    assert len(await h.answers()) == 26


def write_transcripts(story: Story, people: People, transcripts: dict[str, str]) -> None:
    if os.environ.get("CJM_TRANSCRIPT_UPDATE"):
        EXPECTED.mkdir(parents=True, exist_ok=True)
        for key, text in transcripts.items():
            (EXPECTED / f"{key}.txt").write_text(text, encoding="utf-8")
    target = os.environ.get("CJM_TRANSCRIPT")
    if target:
        shown = (("owner", people.owner), ("anna", people.anna), ("olga", people.olga))
        parts = [TRANSCRIPT_HEAD] + [
            f"### {story.names[person.user_id]}\n\n```\n{transcripts[key]}```\n"
            for key, person in shown
        ]
        Path(target).write_text("\n".join(parts), encoding="utf-8")
