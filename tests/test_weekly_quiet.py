"""A week with nothing to report sends nothing: not before the first order, not a week
without answers; until the first answer, each owner gets one short note on how the first
answers come, in their language (the survey's, for an owner who never wrote)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from bot.commands import status
from reports.weekly import Content, Week, note_text
from storage.models import ReportDelivery
from tests.support.clock import FakeClock
from tests.support.fake_bot_api import FakeBotAPI
from tests.support.harness import OWNER_ID, Harness, settings_for
from tests.support.seed import answered_on

SECOND_OWNER = 2
OWNERS = frozenset({OWNER_ID, SECOND_OWNER})
PARTS = ["sendMessage", "sendPhoto", "sendDocument"]

NOTE_RU = (
    "За 23.11.2026–29.11.2026 ответов пока нет, поэтому еженедельного отчёта в этот раз не "
    "будет.\n\n"
    "Как появятся первые: на каждый заказ сотрудник отправляет боту /order <телефон или номер "
    "карты клиента>, а клиент сканирует QR-код или открывает ссылку из ответа бота. Вопросы "
    "приходят после покупки, а еженедельный отчёт начнётся с первой недели, в которой есть "
    "ответы.\n\n"
    "Пока 2 заказа; ещё ждут, когда клиент откроет ссылку: 2."
)
NOTE_EN = (
    "No answers for 23.11.2026–29.11.2026 yet, so there is no weekly report this time.\n\n"
    "How the first ones come: for each order, staff send the bot /order <the customer's phone "
    "or card number>, and the customer scans the QR code or opens the link it gives. The "
    "questions follow the purchase; the weekly report starts with the first week that has "
    "answers.\n\n"
    "2 orders so far, 2 still waiting for the customer to open the link."
)


def sent_to(api: FakeBotAPI, chat_id: int) -> list[str]:
    sends = (call for call in api.calls if call.ok and call.method.startswith("send"))
    return [call.method for call in sends if str(call.params["chat_id"]) == str(chat_id)]


async def states(harness: Harness) -> dict[tuple[int, date], tuple[str, str | None]]:
    async with harness.session() as session:
        rows = await session.scalars(select(ReportDelivery))
        return {(row.owner_id, row.week): (row.status, row.error) for row in rows}


async def test_a_fresh_install_sends_no_empty_report_and_one_note_in_the_surveys_language(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> None:
    async with Harness(api, database_url, clock, owner_ids=OWNERS) as harness:
        # Installed on Monday after the report's hour: the week before has no order.
        await harness.app.weekly.deliver()
        assert sent_to(api, OWNER_ID) == sent_to(api, SECOND_OWNER) == []
        assert (await states(harness))[OWNER_ID, date(2026, 11, 23)] == (
            "empty",
            "nothing to report: the week ended before the first order",
        )

        await harness.send(harness.user(SECOND_OWNER, "en"), "/help")  # speaks English
        for ref in ("+79990001122", "+79990001133"):
            await harness.send(harness.staff, f"/order {ref}")
        api.clear()
        clock.now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
        await harness.app.weekly.deliver()
        assert api.sent_texts(OWNER_ID) == [NOTE_RU]  # never wrote: the survey's language
        assert api.sent_texts(SECOND_OWNER) == [NOTE_EN]

        api.clear()
        clock.now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # still no answers: silence
        await harness.app.weekly.deliver()
        assert sent_to(api, OWNER_ID) == sent_to(api, SECOND_OWNER) == []
        shown = await status(settings_for(api, database_url))
        assert [line for line in shown.splitlines() if line.startswith("weekly")] == [
            "weekly report of 2026-11-30..2026-12-06 to owner 1: not sent, nothing to "
            "report: no answers that week",
            "weekly report of 2026-11-30..2026-12-06 to owner 2: not sent, nothing to "
            "report: no answers that week",
        ]

        await answered_on(database_url, [date(2026, 12, 9)])
        clock.now = datetime(2026, 12, 14, 12, 0, tzinfo=UTC)
        await harness.app.weekly.deliver()
        assert sent_to(api, OWNER_ID) == sent_to(api, SECOND_OWNER) == PARTS
        assert api.sent_texts(OWNER_ID)[0].startswith("Кафе: путь гостя\n07.12.2026–13.12.2026\n")


def test_the_note_when_every_customer_has_opened_the_link() -> None:
    week = Week(date(2026, 11, 30), Content.NOTE, orders=1, waiting=0)
    assert note_text(week, "ru").endswith("\n\nПока 1 заказ; все клиенты открыли ссылку.")
    assert note_text(week, "en").endswith(
        "\n\n1 order so far; every customer has opened the link."
    )


async def test_a_week_without_answers_after_earlier_ones_sends_nothing(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> None:
    await answered_on(database_url, [date(2026, 11, 11)])
    async with Harness(api, database_url, clock) as harness:
        outcome = await harness.app.weekly.deliver()

        assert outcome.week == date(2026, 11, 23) and outcome.sent == ()
        assert sent_to(api, OWNER_ID) == []
        assert (await states(harness)) == {
            (OWNER_ID, date(2026, 11, 23)): ("empty", "nothing to report: no answers that week")
        }
        await harness.app.weekly.deliver()  # settled: not looked at again
        assert sent_to(api, OWNER_ID) == []


async def test_the_note_that_could_not_be_sent_is_retried(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> None:
    async with Harness(api, database_url, clock) as harness:
        await harness.send(harness.staff, "/order +79990001122")
        clock.now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
        api.fail_next("sendMessage", 502, "Bad Gateway")
        assert (await harness.app.weekly.deliver()).retrying == (OWNER_ID,)
        clock.advance(minutes=2)
        assert (await harness.app.weekly.deliver()).sent == (OWNER_ID,)
        assert api.sent_texts(OWNER_ID)[-1].startswith("За 23.11.2026–29.11.2026 ответов")
        assert (await states(harness))[OWNER_ID, date(2026, 11, 30)] == ("noted", None)
