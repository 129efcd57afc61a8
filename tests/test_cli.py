"""The shell commands an operator or a till script runs: db upgrade, order add, status."""

from __future__ import annotations

import asyncio
import re
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, update
from sqlalchemy.orm import Session

from bot.cli import main
from reports import export
from storage.models import (
    Customer,
    Dispatch,
    DispatchStatus,
    LinkToken,
    Order,
    PollerLease,
    ReportDelivery,
)
from tests.support.fake_bot_api import FakeBotAPI
from tests.support.seed import LinkedWave, linked_waves

PAST = datetime(2020, 1, 1, tzinfo=UTC)
LINK = re.compile(r"https://t\.me/(\w+)\?start=([A-Za-z0-9_-]{20,64})")


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no .env from the working tree
    path = tmp_path / "shop.db"
    monkeypatch.setenv("CJM_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.delenv("CJM_BOT_TOKEN", raising=False)
    return path


def orders(path: Path) -> list[tuple[str, str, str | None, str]]:
    engine = create_engine(f"sqlite:///{path}")
    with Session(engine) as session:
        rows = session.execute(
            select(Order.external_id, Customer.ref, Order.segment, Order.source).join(Customer)
        ).all()
    engine.dispose()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_db_upgrade_creates_the_schema(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0

    assert capsys.readouterr().out.startswith("database at head: sqlite+aiosqlite:///")
    engine = create_engine(f"sqlite:///{database}")
    assert {"customers", "orders", "dispatches", "answers"} <= set(
        inspect(engine).get_table_names()
    )
    engine.dispose()


def test_order_add_prints_the_link_and_is_idempotent(
    database: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CJM_BOT_USERNAME", "zerno_bot")
    command = ["order", "add", "+79990001122", "--segment", "downtown", "--external-id", "A-17"]

    assert main(command) == 0
    first = capsys.readouterr().out
    assert main(command) == 0
    again = capsys.readouterr().out

    link = LINK.search(first)
    assert link is not None and link.group(1) == "zerno_bot"
    assert "waiting for the customer" in first
    repeated = LINK.search(again)
    assert repeated is not None and repeated.group(0) == link.group(0)  # the same link
    assert orders(database) == [("A-17", "+79990001122", "downtown", "cli")]


async def test_order_add_asks_telegram_for_the_bot_name(
    database: Path,
    api: FakeBotAPI,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CJM_BOT_TOKEN", "123456:TEST")
    monkeypatch.setenv("CJM_TELEGRAM_API_URL", api.url)
    monkeypatch.delenv("CJM_BOT_USERNAME", raising=False)

    assert await asyncio.to_thread(main, ["order", "add", "bob"]) == 0

    link = LINK.search(capsys.readouterr().out)
    assert link is not None and link.group(1) == "cjm_test_bot"
    assert [call.method for call in api.calls] == ["getMe"]


def test_order_add_without_a_token_stores_nothing(
    database: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CJM_BOT_USERNAME", raising=False)

    assert main(["order", "add", "+79990001122"]) == 2

    assert capsys.readouterr() == (
        "",
        "not registered: the customer's link needs the bot's name: set CJM_BOT_USERNAME, "
        "or CJM_BOT_TOKEN (from @BotFather)\n",
    )
    assert not database.exists()


@pytest.mark.parametrize(
    ("token", "code", "message"),
    [
        ("notatoken", 2, "not registered: CJM_BOT_TOKEN: not a bot token (it looks like "
         "123456789:AAH…; get one from @BotFather)"),
        ("123456:REVOKED", 2, "not registered: CJM_BOT_TOKEN: Telegram refused this token "
         "(revoked or mistyped? check it with @BotFather)"),
    ],
)  # fmt: skip
async def test_order_add_with_a_bad_token_stores_nothing(
    database: Path,
    api: FakeBotAPI,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    token: str,
    code: int,
    message: str,
) -> None:
    monkeypatch.setenv("CJM_BOT_TOKEN", token)
    monkeypatch.setenv("CJM_TELEGRAM_API_URL", api.url)
    monkeypatch.delenv("CJM_BOT_USERNAME", raising=False)
    api.fail_next("getMe", 401, "Unauthorized")

    assert await asyncio.to_thread(main, ["order", "add", "bob"]) == code

    assert capsys.readouterr() == ("", message + "\n")
    assert not await asyncio.to_thread(database.exists)


async def test_order_add_with_telegram_unreachable_stores_nothing_and_a_retry_adds_one(
    database: Path,
    api: FakeBotAPI,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CJM_BOT_TOKEN", "123456:TEST")
    monkeypatch.setenv("CJM_TELEGRAM_API_URL", api.url)
    monkeypatch.delenv("CJM_BOT_USERNAME", raising=False)
    api.drop_next("getMe")

    assert await asyncio.to_thread(main, ["order", "add", "bob"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"not registered: Telegram is unreachable at {api.url}: ")
    assert err.endswith(" (CJM_BOT_USERNAME makes links without asking it)\n")
    assert len(err.splitlines()) == 1
    assert not await asyncio.to_thread(database.exists)

    assert await asyncio.to_thread(main, ["order", "add", "bob"]) == 0  # the retry
    assert LINK.search(capsys.readouterr().out) is not None
    assert [ref for _id, ref, _segment, _source in orders(database)] == ["bob"]


def test_order_add_rejects_a_time_without_zone(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["order", "add", "bob", "--purchased-at", "2026-11-23T14:05"])

    assert exit_.value.code == 2
    assert "give a time zone" in capsys.readouterr().err


def test_order_add_refuses_a_bad_reference_before_anything_else(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["order", "add", "ivan petrov"]) == 1

    assert capsys.readouterr() == (
        "",
        "not registered: customer_ref: one word, or a phone number (spaces and dashes are "
        "fine there)\n",
    )
    assert not database.exists()


@pytest.mark.parametrize(
    ("url", "shown", "why"),
    [
        ("sqlite+aiosqlite:////nonexistent/dir/shop.db", "sqlite+aiosqlite:////nonexistent/dir/"
         "shop.db", "no folder /nonexistent/dir"),
        ("postgresql+asyncpg://cjm:secret@127.0.0.1:1/shop", "postgresql+asyncpg://cjm:***@"
         "127.0.0.1:1/shop", "Connect call failed ('127.0.0.1', 1)"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", [["status"], ["db", "upgrade"], ["report"]])
def test_a_database_that_cannot_be_opened_is_one_line(
    database: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    shown: str,
    why: str,
    command: list[str],
) -> None:
    monkeypatch.setenv("CJM_DATABASE_URL", url)

    assert main(command) == 2

    out, err = capsys.readouterr()
    assert (out, err.splitlines()[-1]) == ("", f"CJM_DATABASE_URL: cannot open {shown}: {why}")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["order", "add", "bob", "--purchased-at", "yesterday"],
         "argument --purchased-at: not a time: 'yesterday' (ISO 8601 with a zone, "
         "e.g. 2026-11-23T14:05+03:00)"),
        (["report", "--from", "5.12.2026"],
         "argument --from: not a date: '5.12.2026' (YYYY-MM-DD)"),
        (["report", "--days", "week"], "argument --days: not a whole number: 'week'"),
    ],
)  # fmt: skip
def test_a_malformed_time_or_date_is_said_in_words(
    database: Path, capsys: pytest.CaptureFixture[str], command: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(command)

    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f": error: {message}")
    assert not database.exists()


def test_status_counts_waves_by_status(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()

    assert main(["status"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "no waves yet",
        "polling Telegram: no process (no `cjm run` is running, or none polls yet)",
    ]


def test_status_counts_orders_waiting_names_the_week_and_the_next_wave(
    database: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CJM_BOT_USERNAME", "zerno_bot")
    monkeypatch.setenv("CJM_TIMEZONE", "Europe/Moscow")
    for ref in ("+79990001122", "+79990001133", "+79990001144"):
        assert main(["order", "add", ref]) == 0
    assert main(["status"]) == 0
    assert capsys.readouterr().out.splitlines()[-3:-1] == [
        "no waves yet (they are planned when a customer opens the link)",
        "orders waiting for the customer to open the link: 3",
    ]

    engine = create_engine(f"sqlite:///{database}")
    with Session(engine) as session, session.begin():
        session.execute(update(LinkToken).where(LinkToken.id == 1).values(expires_at=PAST))
        session.add(Dispatch(
            order_id=2, survey_id="cafe", wave_id="after_purchase", status="pending",
            due_at=datetime(2026, 12, 5, 7, 0, tzinfo=UTC), attempts=0, progress={},
            created_at=PAST,
        ))  # fmt: skip
        session.add(ReportDelivery(
            owner_id=1, week=date(2026, 11, 30), status="sent", attempts=1, parts=3,
            claimed_at=datetime(2026, 11, 30, 6, 0, tzinfo=UTC),
            sent_at=datetime(2026, 11, 30, 6, 0, 5, tzinfo=UTC),
        ))  # fmt: skip
        session.add(ReportDelivery(
            owner_id=2, week=date(2026, 11, 30), status="failed", attempts=1, parts=0,
            claimed_at=PAST, error="Forbidden: bot was blocked by the user",
        ))  # fmt: skip
    engine.dispose()

    assert main(["status"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "   pending: 1",
        "next wave: 2026-12-05 10:00 Europe/Moscow",
        "orders waiting for the customer to open the link: 3 (1 with the link expired)",
        "weekly report of 2026-11-23..2026-11-29 to owner 1: sent 2026-11-30 09:00 Europe/Moscow",
        "weekly report of 2026-11-23..2026-11-29 to owner 2: failed (Forbidden: bot was blocked"
        " by the user)",
        "polling Telegram: no process (no `cjm run` is running, or none polls yet)",
    ]


def test_status_names_the_process_that_polls_telegram(
    database: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CJM_TIMEZONE", "Europe/Moscow")
    assert main(["db", "upgrade"]) == 0
    later = datetime(2099, 1, 1, tzinfo=UTC)
    engine = create_engine(f"sqlite:///{database}")
    with Session(engine) as session, session.begin():
        session.add(PollerLease(
            bot_id=1, holder="shop-1:4242:a1b2c3",
            acquired_at=datetime(2026, 12, 5, 7, 0, tzinfo=UTC), expires_at=later,
        ))  # fmt: skip
        session.add(PollerLease(
            bot_id=2, holder="shop-2:77:d4e5f6", acquired_at=PAST,
            expires_at=datetime(2026, 12, 5, 7, 30, tzinfo=UTC),
        ))  # fmt: skip
    engine.dispose()
    capsys.readouterr()

    assert main(["status"]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == [
        "polling Telegram: process shop-1:4242:a1b2c3 since 2026-12-05 10:00 Europe/Moscow",
        "polling Telegram: no process; shop-2:77:d4e5f6 stopped renewing its lease at "
        "2026-12-05 10:30 Europe/Moscow (it died?): a standby takes over at its next try",
    ]


def test_report_writes_the_files_for_a_period(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "weekly"
    command = ["report", "--from", "2026-11-16", "--to", "2026-11-22", "--out", str(out)]

    assert main(command) == 0

    printed = capsys.readouterr()
    assert "adding up the answers" in printed.err
    written = [Path(line) for line in printed.out.split()]
    assert written and all(path.parent == out and path.stat().st_size > 0 for path in written)
    assert [p.name for p in written] == [
        "map.png",
        "report.html",
        "report.pdf",
        "map.csv",
        "answers.csv",
        "report.xlsx",
    ]
    assert (out / "map.png").read_bytes().startswith(b"\x89PNG")
    assert "<html" in (out / "report.html").read_text()
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF-")


def test_report_shows_progress_as_plain_milestones_off_a_terminal(
    demo_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    demo = Path(demo_url.removeprefix("sqlite+aiosqlite:///"))
    copy = tmp_path / "demo.db"
    shutil.copyfile(demo, copy)
    monkeypatch.chdir(tmp_path)  # no .env from the working tree
    monkeypatch.setenv("CJM_DATABASE_URL", f"sqlite+aiosqlite:///{copy}")
    monkeypatch.setattr(export, "BATCH", 100)  # several batches: several milestones
    out = tmp_path / "october"
    command = ["report", "--from", "2026-10-01", "--to", "2026-11-14", "--out", str(out)]

    assert main(command) == 0

    printed = capsys.readouterr()
    assert "\r" not in printed.err  # captured output is no terminal
    milestones = [line for line in printed.err.splitlines() if " rows (" in line]
    for name in ("answers.csv", "report.xlsx"):
        mine = [line for line in milestones if line.startswith(f"{name}: ")]
        assert [line.split("(")[1].split("%")[0] for line in mine][-1] == "100"
        assert 2 <= len(mine) <= 4, mine
    total = int(milestones[-1].split(" of ")[1].split()[0].replace(",", ""))
    assert f"… {total} answers exported" in printed.err
    names = ("map.png", "report.html", "report.pdf", "map.csv", "answers.csv", "report.xlsx")
    assert printed.out.split() == [str(out / name) for name in names]


def test_customer_relink_of_an_unknown_or_unlinked_customer_makes_no_link(
    database: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CJM_BOT_USERNAME", "zerno_bot")
    assert main(["order", "add", "+79990001122"]) == 0
    capsys.readouterr()

    assert main(["customer", "relink", "+70000000000"]) == 1
    assert capsys.readouterr() == ("", "no link made: no customer with reference '+70000000000'\n")
    assert main(["customer", "relink", "+79990001122"]) == 1
    assert capsys.readouterr() == (
        "",
        "no link made: +79990001122 is not connected to Telegram: give them their order's link\n",
    )


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (
            ["--from", "2026-12-05", "--to", "2026-12-01"],
            "cjm report: --from 2026-12-05 is after --to 2026-12-01: put the earlier date first",
        ),
        (["--days", "0"], "cjm report: --days 0: give 1 or more days"),
        (["--days", "-3"], "cjm report: --days -3: give 1 or more days"),
        (
            ["--days", "7", "--locale", "de"],
            "cjm report: --locale de is not supported; use one of: en, ru",
        ),
    ],
)
def test_report_refuses_arguments_that_make_no_report_in_one_line(
    database: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    error: str,
) -> None:
    out = tmp_path / "nothing"

    assert main(["report", *arguments, "--out", str(out)]) == 2

    printed = capsys.readouterr()
    assert printed.err == error + "\n"
    assert printed.out == ""
    assert not out.exists() and not database.exists()


def test_report_from_a_future_day_says_today(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--from", "2999-01-01"]) == 2
    assert capsys.readouterr().err.startswith("cjm report: --from 2999-01-01 is after today (")


def test_report_to_alone_ends_the_last_days_there(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--to", "2026-11-22", "--days", "7", "--locale", "ru"]) == 0
    assert capsys.readouterr().out.split()[0] == "report-2026-11-16-2026-11-22/map.png"


TIMEOUT = "no response: Request timeout error"


def seed_unknown_sends(path: Path) -> None:
    """Two waves whose send is unknown (one on 1 December, one on the 3rd) and one sent."""
    days = [(DispatchStatus.UNKNOWN, 1), (DispatchStatus.UNKNOWN, 3), (DispatchStatus.SENT, 3)]
    at = [datetime(2026, 12, day, 10, 0, tzinfo=UTC) for _, day in days]
    waves = [
        LinkedWave(900 + n, at[n], status, closed_at=at[n], error=TIMEOUT)
        for n, (status, _) in enumerate(days)
    ]
    asyncio.run(linked_waves(f"sqlite+aiosqlite:///{path}", waves))


def statuses(path: Path) -> list[tuple[str, str]]:
    from storage.models import Dispatch

    engine = create_engine(f"sqlite:///{path}")
    with Session(engine) as session:
        rows = session.execute(
            select(Customer.ref, Dispatch.status).join(Customer).order_by(Customer.ref)
        ).all()
    engine.dispose()
    return [(ref, str(status)) for ref, status in rows]


def test_unknown_sends_are_shown_and_resent_only_after_confirmation(
    database: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["db", "upgrade"]) == 0
    seed_unknown_sends(database)
    capsys.readouterr()

    assert main(["status"]) == 0
    assert "2 sends may or may not have arrived" in capsys.readouterr().out

    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert main(["waves", "resend", "--unknown"]) == 1
    shown = capsys.readouterr().out.splitlines()
    assert shown == [
        "wave 1 (after_purchase) to guest-900, unknown since 2026-12-01 10:00: "
        "no response: Request timeout error",
        "wave 2 (after_purchase) to guest-901, unknown since 2026-12-03 10:00: "
        "no response: Request timeout error",
        "nothing resent",
    ]
    assert statuses(database) == [
        ("guest-900", "unknown"), ("guest-901", "unknown"), ("guest-902", "sent"),
    ]  # fmt: skip

    assert main(["waves", "resend", "--unknown", "--since", "2026-12-02", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "guest-900" not in out and out.endswith(
        "1 waves back in the outbox: `cjm run` sends them on its next drain\n"
    )
    assert statuses(database) == [
        ("guest-900", "unknown"), ("guest-901", "pending"), ("guest-902", "sent"),
    ]  # fmt: skip
