"""The weekly report (SPEC §4 "Reports"): every owner gets the summary, the map and the
HTML file once per week, also across restarts; a missed week is sent on start; and
`/report` is built off the update path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import App, build_app, serving
from bot.commands import status
from bot.settings import SettingsError, load_settings
from reports.schedule import crontab, latest_firing
from reports.worker import ReportWorker
from storage.models import ReportDelivery
from tests.flows import connect
from tests.support.clock import FakeClock
from tests.support.fake_bot_api import FakeBotAPI
from tests.support.harness import OWNER_ID, Harness, settings_for
from tests.support.seed import answered_on

SECOND_OWNER = 2
OWNERS = frozenset({OWNER_ID, SECOND_OWNER})
MONDAY_NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # the default cron fired at 09:00
LAST_WEEK = "16.11.2026–22.11.2026"
PARTS = ["sendMessage", "sendPhoto", "sendDocument"]


def received(api: FakeBotAPI, chat_id: int) -> list[str]:
    """The Bot API sends to this chat that Telegram accepted, in order."""
    sends = (call for call in api.calls if call.ok and call.method.startswith("send"))
    return [call.method for call in sends if str(call.params["chat_id"]) == str(chat_id)]


async def deliveries(app: App) -> dict[tuple[int, date], ReportDelivery]:
    async with app.sessions() as session:
        rows = await session.scalars(select(ReportDelivery))
        return {(row.owner_id, row.week): row for row in rows}


@asynccontextmanager
async def started(
    api: FakeBotAPI, database_url: str, clock: FakeClock, **overrides: Any
) -> AsyncIterator[App]:
    """As `cjm run` starts: polling and the timer, whose catch-up has finished."""
    settings = settings_for(api, database_url, owner_ids=OWNERS, **overrides)
    app = await build_app(settings, clock=clock)
    try:
        async with serving(app, timer=True, polling_timeout=1):
            await app.background.wait()
            yield app
    finally:
        await app.close()


@pytest.fixture(autouse=True)
async def answered_every_week(database_url: str) -> None:
    """An answer on each Wednesday from 11 November to 16 December: every week has some
    (a week without answers sends nothing: tests/test_weekly_quiet.py)."""
    await answered_on(database_url, [date(2026, 11, 11) + timedelta(weeks=n) for n in range(6)])


@pytest.fixture
async def owners(api: FakeBotAPI, database_url: str, clock: FakeClock) -> AsyncIterator[Harness]:
    async with Harness(api, database_url, clock, owner_ids=OWNERS) as running:
        yield running


async def test_every_owner_gets_summary_map_and_html_once_a_week(owners: Harness) -> None:
    api = owners.api
    await owners.send(owners.user(SECOND_OWNER, language="en"), "/help")  # speaks English
    api.clear()  # the first owner never wrote: the survey's language (ru) for them

    outcome = await owners.app.weekly.deliver()

    assert outcome.week == date(2026, 11, 23)
    assert sorted(outcome.sent) == sorted(OWNERS)
    for owner in OWNERS:
        assert received(api, owner) == PARTS
    assert api.sent_texts(OWNER_ID)[0].startswith(f"Кафе: путь гостя\n{LAST_WEEK}\n")
    assert api.sent_texts(SECOND_OWNER)[0].startswith(f"Cafe: the guest journey\n{LAST_WEEK}\n")
    photo = api.calls_of("sendPhoto")[0]
    assert photo.files["photo"][1].startswith(b"\x89PNG")
    filename, html = api.calls_of("sendDocument")[0].files["document"]
    assert filename == "report-2026-11-16-2026-11-22.html" and b"<html" in html
    rows = await deliveries(owners.app)
    assert {key: (row.status, row.attempts, row.locale) for key, row in rows.items()} == {
        (OWNER_ID, date(2026, 11, 23)): ("sent", 1, "ru"),
        (SECOND_OWNER, date(2026, 11, 23)): ("sent", 1, "en"),
    }

    owners.clock.advance(days=3)  # the schedule's jobs run again in the same week
    for job_id in ("weekly_report", "weekly_report_recheck"):
        job = owners.app.scheduler.get_job(job_id)
        assert job is not None
        await job.func()
    assert len(api.calls_of("sendDocument")) == 2


async def test_a_restart_does_not_resend_and_remembers_the_language(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> None:
    async with Harness(api, database_url, clock, owner_ids=OWNERS) as first:
        await first.send(first.user(SECOND_OWNER, language="en"), "/help")
        await first.app.weekly.deliver()
    api.clear()

    async with started(api, database_url, clock):  # the catch-up on start finds it sent
        assert received(api, OWNER_ID) == received(api, SECOND_OWNER) == []

    clock.advance(days=7)  # the next week: no update from the owner in this process
    async with started(api, database_url, clock) as app:
        assert received(api, SECOND_OWNER) == PARTS
        assert api.sent_texts(SECOND_OWNER)[0].startswith("Cafe: the guest journey\n23.11.2026–")
        assert (await deliveries(app))[SECOND_OWNER, date(2026, 11, 30)].locale == "en"


async def test_a_missed_week_is_sent_on_start_once_and_only_the_latest(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> None:
    async with Harness(api, database_url, clock, owner_ids=OWNERS) as before:
        api.fail_next("sendMessage", 502, "Bad Gateway")  # the first owner's (sorted)
        outcome = await before.app.weekly.deliver()
    assert outcome.retrying == (OWNER_ID,) and outcome.sent == (SECOND_OWNER,)
    api.clear()

    clock.now = datetime(2026, 12, 21, 12, 0, tzinfo=UTC)  # down for four firings
    async with started(api, database_url, clock) as app:
        for owner in OWNERS:
            assert received(api, owner) == PARTS
            assert api.sent_texts(owner)[0].splitlines()[1] == "14.12.2026–20.12.2026"
        rows = await deliveries(app)
    assert {key: row.status for key, row in rows.items()} == {
        (OWNER_ID, date(2026, 11, 23)): "failed",  # given up: a newer week went out
        (SECOND_OWNER, date(2026, 11, 23)): "sent",
        (OWNER_ID, date(2026, 12, 21)): "sent",
        (SECOND_OWNER, date(2026, 12, 21)): "sent",
    }
    superseded = rows[OWNER_ID, date(2026, 11, 23)].error
    assert superseded == "superseded by the report of 2026-12-21"

    api.clear()
    async with started(api, database_url, clock):
        assert received(api, OWNER_ID) == received(api, SECOND_OWNER) == []


async def test_flood_control_and_server_errors_are_retried_without_repeating_a_part(
    harness: Harness,
) -> None:
    api, weekly = harness.api, harness.app.weekly
    api.fail_next("sendPhoto", 429, "Too Many Requests: retry after 5", retry_after=5)

    assert (await weekly.deliver()).retrying == (OWNER_ID,)
    row = (await deliveries(harness.app))[OWNER_ID, date(2026, 11, 23)]
    assert (row.status, row.parts, row.attempts) == ("retry", 1, 1)
    assert row.retry_at == harness.clock.now + timedelta(minutes=1)
    assert row.error == "flood control: retry after 5s"

    harness.clock.advance(seconds=30)
    assert (await weekly.deliver()).retrying == ()  # not due yet: nothing sent
    assert received(api, OWNER_ID) == ["sendMessage"]

    harness.clock.advance(seconds=31)
    api.fail_next("sendDocument", 500, "Internal Server Error")
    assert (await weekly.deliver()).retrying == (OWNER_ID,)
    harness.clock.advance(minutes=2)  # the second pause is twice as long
    assert (await weekly.deliver()).sent == (OWNER_ID,)

    assert received(api, OWNER_ID) == PARTS  # the summary and the map went out once
    row = (await deliveries(harness.app))[OWNER_ID, date(2026, 11, 23)]
    assert (row.status, row.attempts, row.error) == ("sent", 3, None)


async def test_an_owner_who_blocked_the_bot_fails_with_the_reason(harness: Harness) -> None:
    harness.api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")

    assert (await harness.app.weekly.deliver()).failed == (OWNER_ID,)
    harness.clock.advance(days=1)
    assert (await harness.app.weekly.deliver()).failed == ()

    row = (await deliveries(harness.app))[OWNER_ID, date(2026, 11, 23)]
    assert (row.status, row.error) == ("failed", "403: Forbidden: bot was blocked by the user")
    assert received(harness.api, OWNER_ID) == []


async def test_a_claim_left_by_a_crashed_process_is_retaken_after_the_lease(
    harness: Harness,
) -> None:
    async with harness.session() as session, session.begin():
        session.add(
            ReportDelivery(
                owner_id=OWNER_ID, week=date(2026, 11, 23), status="sending", attempts=1,
                claimed_at=harness.clock.now - timedelta(minutes=1), parts=1,
            )
        )  # fmt: skip

    assert (await harness.app.weekly.deliver()).sent == ()  # the other process may be on it
    harness.clock.advance(minutes=1, seconds=1)  # CJM_SEND_LEASE: 2 minutes
    assert (await harness.app.weekly.deliver()).sent == (OWNER_ID,)
    assert received(harness.api, OWNER_ID) == ["sendPhoto", "sendDocument"]


async def test_the_week_is_the_business_timezones(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> None:
    # Monday 01:00 in Vladivostok (UTC+10) is Sunday 15:00 UTC.
    overrides = {"timezone": "Asia/Vladivostok", "report_cron": "0 1 * * 1"}
    clock.now = datetime(2026, 11, 22, 14, 30, tzinfo=UTC)
    async with Harness(api, database_url, clock, **overrides) as harness:
        job = harness.app.scheduler.get_job("weekly_report")
        assert job is not None and job.trigger.timezone == ZoneInfo("Asia/Vladivostok")
        assert (await harness.app.weekly.deliver()).week == date(2026, 11, 16)
        clock.now = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
        assert (await harness.app.weekly.deliver()).week == date(2026, 11, 23)
        assert api.sent_texts(OWNER_ID)[-1].splitlines()[1] == LAST_WEEK


@pytest.mark.parametrize(
    ("now", "fired"),
    [
        # Berlin leaves summer time on Sunday 25 October 2026: 09:00 is 07:00 UTC before
        # and 08:00 UTC after.
        (datetime(2026, 10, 26, 7, 30, tzinfo=UTC), datetime(2026, 10, 19, 7, 0, tzinfo=UTC)),
        (datetime(2026, 10, 26, 8, 0, tzinfo=UTC), datetime(2026, 10, 26, 8, 0, tzinfo=UTC)),
        (datetime(2026, 3, 30, 7, 0, tzinfo=UTC), datetime(2026, 3, 30, 7, 0, tzinfo=UTC)),
        (datetime(2026, 3, 30, 6, 59, tzinfo=UTC), datetime(2026, 3, 23, 8, 0, tzinfo=UTC)),
    ],
)
def test_latest_firing_across_daylight_saving_changes(now: datetime, fired: datetime) -> None:
    trigger = crontab("0 9 * * mon", "Europe/Berlin")
    assert latest_firing(trigger, now) == fired.astimezone(ZoneInfo("Europe/Berlin"))


@pytest.mark.parametrize(
    ("expression", "weekdays"),
    [
        ("0 9 * * 1", "mon"),
        ("0 9 * * 0", "sun"),
        ("0 9 * * 7", "sun"),
        ("0 9 * * 1-5", "mon,tue,wed,thu,fri"),
        ("0 9 * * */2", "sun,tue,thu,sat"),
        ("0 9 * * sat,0", "sat,sun"),
        ("0 9 * * mon-fri", "mon-fri"),
    ],
)
def test_crontab_weekdays_count_from_sunday(expression: str, weekdays: str) -> None:
    assert str(crontab(expression, "UTC").fields[4]) == weekdays


def test_latest_firing_of_a_frequent_schedule() -> None:
    now = datetime(2026, 11, 23, 12, 7, 30, tzinfo=UTC)
    assert latest_firing(crontab("*/5 * * * *", "UTC"), now) == now.replace(minute=5, second=0)


@pytest.mark.parametrize("value", ["0 9 * *", "0 25 * * mon", "0 9 * * 8", "every monday"])
def test_a_bad_report_cron_stops_start_up_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CJM_REPORT_CRON", value)
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None)
    message = str(raised.value)
    assert message.startswith("CJM_REPORT_CRON: not a crontab line") and "\n" not in message
    assert repr(value) in message


# -- /report off the update path --------------------------------------------------------
@pytest.fixture
def held_build(monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """/report's build waits for this event."""
    release = asyncio.Event()
    build = ReportWorker.__call__

    async def held(*args: Any, **kwargs: Any) -> Any:
        await release.wait()
        return await build(*args, **kwargs)

    monkeypatch.setattr(ReportWorker, "__call__", held)
    return release


async def test_report_command_answers_at_once_and_sends_the_files_after(
    harness: Harness, held_build: asyncio.Event
) -> None:
    api = harness.api
    await harness.send(harness.user(OWNER_ID), "/report 30d")  # handled and acknowledged

    assert api.sent_texts(OWNER_ID) == [
        "Building your report… the summary, the map (PNG) and the HTML report follow in a moment."
    ]
    assert api.calls_of("sendPhoto") == []
    await harness.send(harness.user(501), "/help")  # other chats are served meanwhile
    assert api.sent_texts(501)

    held_build.set()
    await harness.app.background.wait()
    assert received(api, OWNER_ID) == ["sendMessage", *PARTS]
    assert api.sent_texts(OWNER_ID)[1].splitlines()[1] == "25.10.2026–23.11.2026"


async def test_a_report_that_fails_says_so(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(ReportWorker, "__call__", broken)
    await harness.send(harness.user(OWNER_ID, language="ru"), "/report")
    await harness.app.background.wait()

    assert harness.api.sent_texts(OWNER_ID) == [
        "Готовлю отчёт… сводка, карта (PNG) и HTML-отчёт будут через минуту.",
        "Извините, отчёт не удалось собрать или отправить. Попробуйте позже.",
    ]


async def test_shutdown_cancels_a_report_still_being_built(
    harness: Harness, held_build: asyncio.Event
) -> None:
    await harness.send(harness.user(OWNER_ID), "/report")
    harness.app.background.grace = 0.1

    await asyncio.wait_for(harness.stop(), timeout=5)

    assert harness.api.calls_of("sendPhoto") == []


async def test_status_shows_each_owners_latest_weekly_report(
    harness: Harness, database_url: str
) -> None:
    harness.api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    await harness.app.weekly.deliver()

    shown = await status(settings_for(harness.api, database_url))

    weekly = [line for line in shown.splitlines() if line.startswith("weekly")]
    assert weekly[-1] == (
        "weekly report of 2026-11-16..2026-11-22 to owner 1: failed "
        "(403: Forbidden: bot was blocked by the user)"
    )


async def test_two_processes_firing_together_send_each_owner_one_report(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> None:
    """Two `cjm run` processes over one database (as with PostgreSQL and several
    processes): both fire at once, each owner gets one summary, one map, one HTML."""
    settings = settings_for(api, database_url, owner_ids=OWNERS)
    first = await build_app(settings, clock=clock)
    second = await build_app(settings, clock=clock, migrate=False)
    try:
        outcomes = await asyncio.gather(first.weekly.deliver(), second.weekly.deliver())
    finally:
        await first.close()
        await second.close()

    assert sorted(o for outcome in outcomes for o in outcome.sent) == sorted(OWNERS)
    for owner in OWNERS:
        assert received(api, owner) == PARTS


async def test_the_weekly_summary_counts_the_questions_that_may_not_have_arrived(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)  # a day of last week
    async with Harness(api, database_url, clock, owner_ids=OWNERS) as h:
        for user_id, ref in ((601, "ann"), (602, "ben"), (603, "cid")):
            await connect(h, h.user(user_id), ref)
        clock.advance(hours=2, minutes=1)
        api.fail_after_next("sendMessage", 500, "Internal Server Error", times=2)
        assert (await h.drain()).outcomes == {"unknown": 2, "sent": 1}
        await h.send(h.user(SECOND_OWNER, language="ru"), "/help")  # speaks Russian
        await h.send(h.user(OWNER_ID, language="en"), "/help")  # speaks English
        clock.now = MONDAY_NOON
        api.clear()

        assert sorted((await h.app.weekly.deliver()).sent) == sorted(OWNERS)

    assert api.sent_texts(OWNER_ID)[0].endswith(
        "\n\n⚠️ 2 questions may not have reached customers (Telegram's answer was lost). "
        "To list and resend them: cjm waves resend --unknown"
    )
    assert api.sent_texts(SECOND_OWNER)[0].endswith(
        "\n\n⚠️ 2 вопроса могли не дойти до клиентов (ответ Telegram потерялся). "
        "Список и повторная отправка: cjm waves resend --unknown"
    )


# -- CJM_REPORT_FORMATS --------------------------------------------------------------------
async def test_the_weekly_report_attaches_the_pdf_when_configured(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> None:
    async with Harness(api, database_url, clock, report_formats="png, html, PDF") as running:
        api.fail_next("sendDocument", 500, "Internal Server Error")  # the HTML, once
        assert (await running.app.weekly.deliver()).retrying == (OWNER_ID,)
        running.clock.advance(minutes=2)
        assert (await running.app.weekly.deliver()).sent == (OWNER_ID,)

    assert received(api, OWNER_ID) == [*PARTS, "sendDocument"]  # nothing went out twice
    html, pdf = (call.files["document"] for call in api.calls_of("sendDocument") if call.ok)
    assert html[0] == "report-2026-11-16-2026-11-22.html"
    assert pdf[0] == "report-2026-11-16-2026-11-22.pdf"
    assert pdf[1].startswith(b"%PDF-") and b"/Title" in pdf[1]


async def test_report_and_help_name_the_formats_configured(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> None:
    async with Harness(api, database_url, clock, report_formats="pdf, png, html") as running:
        await running.send(running.user(OWNER_ID, language="ru"), "/help")
        assert api.sent_texts(OWNER_ID)[-1].endswith(
            "/report [7d|30d|ГГГГ-ММ-ДД..ГГГГ-ММ-ДД] [сегмент] — сводка, карта (PNG), "
            "HTML-отчёт и PDF за период (по умолчанию за последние 7 дней); еженедельный "
            "отчёт приходит сам."
        )
        await running.send(running.user(OWNER_ID, language="ru"), "/report 30d")
        assert api.sent_texts(OWNER_ID)[-1] == (
            "Готовлю отчёт… сводка, карта (PNG), HTML-отчёт и PDF будут через минуту."
        )
        await running.app.background.wait()
    async with Harness(api, database_url, clock, report_formats="pdf") as running:
        await running.send(running.user(OWNER_ID, language="en"), "/report 30d")
        assert api.sent_texts(OWNER_ID)[-1] == (
            "Building your report… the summary and the PDF follow in a moment."
        )
        await running.app.background.wait()
        assert api.calls_of("sendDocument")[-1].files["document"][0].endswith(".pdf")


async def test_only_the_formats_named_are_sent(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> None:
    async with Harness(api, database_url, clock, report_formats="pdf") as running:
        assert (await running.app.weekly.deliver()).sent == (OWNER_ID,)

    assert received(api, OWNER_ID) == ["sendMessage", "sendDocument"]
    assert api.calls_of("sendDocument")[0].files["document"][0].endswith(".pdf")


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("png,docx", "'docx' is not a report format (use png, html, pdf, comma-separated)"),
        (" , ", "name at least one of png, html, pdf, comma-separated"),
    ],
)
def test_a_bad_report_format_stops_start_up_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str, says: str
) -> None:
    monkeypatch.setenv("CJM_REPORT_FORMATS", value)
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None)
    assert str(raised.value) == f"CJM_REPORT_FORMATS: {says} (got {value!r})"


def test_report_formats_default_to_the_map_and_the_html(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CJM_REPORT_FORMATS", raising=False)
    assert load_settings(_env_file=None).report_formats == ("png", "html")
    monkeypatch.setenv("CJM_REPORT_FORMATS", "html,png,html")
    assert load_settings(_env_file=None).report_formats == ("html", "png")
