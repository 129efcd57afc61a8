"""`cjm orders import FILE`: orders from CSV or XLSX, all or nothing unless --skip-bad, on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from bot.cli import main
from storage.db import make_engine
from storage.models import Customer, LinkToken, Order
from surveys import order_import
from tests.support.fake_bot_api import FakeBotAPI

GOOD = [
    "external_id,customer_ref,purchased_at,segment",
    "A-1,+79990001122,2025-06-01 14:05,downtown",  # no zone: Moscow (UTC+3)
    "A-2,+79990003344,2025-06-02T09:30:00Z,",
    "A-3,+79990001122,2025-06-03,mall",  # a date alone: midnight in Moscow
]
SAVED = [
    ("A-1", "+79990001122", "downtown", "import", datetime(2025, 6, 1, 11, 5, tzinfo=UTC)),
    ("A-2", "+79990003344", None, "import", datetime(2025, 6, 2, 9, 30, tzinfo=UTC)),
    ("A-3", "+79990001122", "mall", "import", datetime(2025, 6, 2, 21, 0, tzinfo=UTC)),
]
Saved = tuple[str, str, str | None, str, datetime]


@pytest.fixture
def shop(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # no .env from the working tree
    monkeypatch.setenv("CJM_DATABASE_URL", database_url)
    monkeypatch.setenv("CJM_TIMEZONE", "Europe/Moscow")
    monkeypatch.delenv("CJM_BOT_TOKEN", raising=False)
    return database_url


def saved(url: str) -> list[Saved]:
    async def query() -> list[Saved]:
        engine = make_engine(url)
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(
                    Order.external_id, Customer.ref, Order.segment, Order.source,
                    Order.purchased_at,
                ).join(Customer).order_by(Order.external_id)
            )  # fmt: skip
            found = [tuple(row) for row in rows]
        await engine.dispose()
        return found  # type: ignore[return-value]

    return asyncio.run(query())


def write_csv(path: Path, lines: list[str], delimiter: str = ",", bom: bool = False) -> Path:
    text = "\r\n".join(line.replace(",", delimiter) for line in lines) + "\r\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["orders", "import", *args])
    printed = capsys.readouterr()
    return code, printed.out, printed.err


@pytest.mark.parametrize(
    ("delimiter", "bom"), [(",", False), (";", True), ("\t", False)], ids=["comma", "bom", "tab"]
)
def test_a_good_csv_is_imported(
    shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], delimiter: str, bom: bool
) -> None:
    path = write_csv(tmp_path / "orders.csv", GOOD, delimiter, bom)

    code, out, err = run(capsys, str(path))

    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "orders.csv: 3 rows: 3 created, 0 already known, 0 rejected"
    assert saved(shop) == SAVED


def test_aliases_in_excel_spelling_and_other_columns_ignored(
    shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ["Order ID;Phone;Date;Branch;Amount", "A-1;+79990001122;2025-06-01 14:05;downtown;9"]
    path = write_csv(tmp_path / "excel.csv", lines, bom=True)

    code, out, _ = run(capsys, str(path))

    assert code == 0
    assert "ignored columns: Amount" in out
    assert saved(shop) == SAVED[:1]


def test_an_xlsx_sheet_with_native_dates_and_numbers(
    shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = Workbook()
    notes = book.active
    assert notes is not None
    notes.title = "Notes"
    notes.append(["nothing", "to", "import"])
    sheet = book.create_sheet("Orders")
    sheet.append(["external_id", "customer", "purchased_at", "segment"])
    local = datetime(2025, 6, 1, 14, 5)  # noqa: DTZ001  (XLSX cells have no zone)
    sheet.append(["A-1", "+79990001122", local, "downtown"])
    sheet.append([])  # a blank row is skipped, the numbering goes on
    sheet.append([1017, 79990003344, date(2025, 6, 3), None])
    path = tmp_path / "orders.xlsx"
    book.save(path)

    code, out, err = run(capsys, str(path), "--sheet", "Orders")

    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "orders.xlsx: 2 rows: 2 created, 0 already known, 0 rejected"
    assert saved(shop) == [
        ("1017", "79990003344", None, "import", datetime(2025, 6, 2, 21, 0, tzinfo=UTC)),
        SAVED[0],
    ]


def test_an_xlsx_is_read_from_its_first_sheet_and_rows_are_numbered_as_in_excel(
    shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["external_id", "customer_ref", "purchased_at"])
    sheet.append(["A-1", "+79990001122", "2025-06-01 14:05"])
    sheet.append([])
    sheet.append(["A-2", "+79990003344", 45000])  # a date cell without a date format
    book.create_sheet("Other")
    path = tmp_path / "orders.xlsx"
    book.save(path)

    code, out, _ = run(capsys, str(path))

    assert code == 1
    assert out.splitlines()[0].startswith("line 4: purchased_at: '45000' is not a date")
    assert saved(shop) == []


def test_bad_rows_stop_the_whole_import_and_are_listed_by_line(
    shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        [
            "external_id,customer_ref,purchased_at,comment",
            'A-1,+79990001122,2025-06-01 14:05,"two',  # a quoted comment over two lines
            'lines"',
            "A-2,,2025-06-02,",
            "A-3,+79990005566,2999-01-01,",
            "A-4,+79990007788,01.06.2025,",
            "A-5,+79990009900,,",
        ],
    )

    code, out, _ = run(capsys, str(path))

    assert code == 1
    assert out.splitlines() == [
        "line 4: customer_ref: must not be empty",
        "line 5: purchased_at: is in the future",
        "line 6: purchased_at: '01.06.2025' is not an ISO 8601 date or time "
        "(e.g. 2026-11-23, 2026-11-23 14:05 or 2026-11-23T14:05+03:00)",
        "ignored columns: comment",
        "orders.csv: 5 rows, nothing imported: 3 rejected "
        "(fix them, or import the other 2 with --skip-bad)",
    ]
    assert saved(shop) == []


def test_skip_bad_imports_the_good_rows_and_lists_the_bad_ones(
    shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(tmp_path / "orders.csv", [*GOOD, "A-4,,2025-06-04,", "A-5,x,2999-01-01,"])

    code, out, _ = run(capsys, str(path), "--skip-bad")

    assert code == 1  # something was rejected, though the rest is in
    assert out.splitlines() == [
        "line 5: customer_ref: must not be empty",
        "line 6: purchased_at: is in the future",
        "orders.csv: 5 rows: 3 created, 0 already known, 2 rejected",
    ]
    assert saved(shop) == SAVED


def test_importing_the_same_file_twice_creates_nothing_new(
    shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(tmp_path / "orders.csv", GOOD)
    assert run(capsys, str(path))[0] == 0

    code, out, _ = run(capsys, str(path))

    assert code == 0
    assert out.strip() == "orders.csv: 3 rows: 0 created, 3 already known, 0 rejected"
    assert saved(shop) == SAVED


def test_a_missing_required_column_names_the_expected_header(
    shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(tmp_path / "orders.csv", ["order_id,name,total", "A-1,Bob,100"])

    code, out, err = run(capsys, str(path))

    assert (code, out) == (2, "")
    assert err.startswith("orders.csv: no customer_ref column. Expected a header row like\n")
    assert "  external_id,customer_ref,purchased_at,segment\n" in err
    assert "Found: order_id, name, total" in err
    assert saved(shop) == []


def test_two_columns_for_one_field_are_refused(
    shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(tmp_path / "orders.csv", ["order_id,phone,customer", "A-1,+7999,Bob"])

    code, _, err = run(capsys, str(path))

    assert code == 2
    assert "columns 'phone' and 'customer' both give customer_ref" in err


def test_repeated_external_ids_in_the_file_are_rejected(
    shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [*GOOD, "A-2,+79990003344,2025-06-02,", " A-1 ,+79990001122,,"]
    path = write_csv(tmp_path / "orders.csv", lines)

    code, out, _ = run(capsys, str(path))
    assert code == 1
    assert out.splitlines()[:2] == [
        "line 5: external_id: 'A-2' repeats line 3",
        "line 6: external_id: 'A-1' repeats line 2",
    ]
    assert saved(shop) == []

    assert run(capsys, str(path), "--skip-bad")[0] == 1
    assert saved(shop) == SAVED  # the first of each


def test_dry_run_checks_and_counts_but_writes_nothing(
    shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, str(write_csv(tmp_path / "first.csv", GOOD[:2])))[0] == 0
    path = write_csv(tmp_path / "orders.csv", [*GOOD, "A-4,,,"])

    code, out, _ = run(capsys, str(path), "--dry-run")

    assert code == 1
    assert out.splitlines() == [
        "line 5: customer_ref: must not be empty",
        "orders.csv: 4 rows checked, nothing written (dry run): 2 would be created, "
        "1 already known, 1 rejected",
    ]
    assert saved(shop) == SAVED[:1]


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("missing.csv", [], "missing.csv: no such file"),
        (
            "orders.json",
            [],
            "orders.json: cannot read '.json' files; give a .csv (UTF-8) or .xlsx",
        ),
        ("orders.xls", [], "save the .xls as .xlsx"),
        ("fake.xlsx", [], "fake.xlsx: not a readable .xlsx workbook"),
        ("latin1.csv", [], "latin1.csv: line 2 is not UTF-8 text"),
        ("orders.csv", ["--sheet", "Orders"], "--sheet is for .xlsx files"),
        ("empty.csv", [], "empty.csv: no rows; expected a header row like external_id,"),
    ],
)
def test_a_file_that_cannot_be_read_is_a_clear_error(
    shop: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    args: list[str],
    message: str,
) -> None:
    for made in ("orders.json", "orders.xls", "fake.xlsx", "orders.csv"):
        (tmp_path / made).write_text("external_id,customer_ref\n")
    (tmp_path / "empty.csv").write_text("\n;;\n")
    latin1 = "external_id,customer_ref\nA-1,Müller\n".encode("cp1252")
    (tmp_path / "latin1.csv").write_bytes(latin1)

    code, out, err = run(capsys, str(tmp_path / name), *args)

    assert (code, out) == (2, "")
    assert message in err


def test_an_unknown_sheet_lists_the_sheets(
    shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = Workbook()
    path = tmp_path / "orders.xlsx"
    book.save(path)

    code, _, err = run(capsys, str(path), "--sheet", "Orders")

    assert code == 2
    assert "orders.xlsx: no sheet 'Orders'; the sheets are 'Sheet'" in err


def big_file(path: Path, rows: int) -> Path:
    lines = ["external_id;customer_ref;purchased_at"]
    lines += [f"N-{n:05d};+7999{n:07d};2025-06-01T12:00+03:00" for n in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_long_import_writes_in_chunks_and_shows_milestones(
    shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(order_import, "CHUNK", 50)
    monkeypatch.setattr(order_import, "PROGRESS_FROM", 100)
    path = big_file(tmp_path / "big.csv", 400)

    code, out, err = run(capsys, str(path))

    assert code == 0
    assert out.strip() == "big.csv: 400 rows: 400 created, 0 already known, 0 rejected"
    assert "\r" not in err  # captured stderr is no terminal: plain lines
    lines = err.splitlines()
    assert lines[0] == "… reading big.csv"
    assert lines[1:4] == [f"big.csv: {n} of 400 rows ({n // 4}%)" for n in (100, 200, 300)]
    assert lines[4].startswith("big.csv: 400 of 400 rows (100%) in ")
    assert lines[5] == "… importing big.csv"
    assert lines[-1].startswith("big.csv: 400 of 400 rows (100%) in ")
    assert len(saved(shop)) == 400


def test_an_import_killed_mid_way_keeps_its_chunks_and_a_rerun_finishes_it(
    shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(order_import, "CHUNK", 50)
    path = big_file(tmp_path / "big.csv", 180)
    write = order_import.OrderImport._write
    calls = 0

    async def dies_at_the_third_chunk(
        self: order_import.OrderImport, chunk: list[object], summary: object
    ) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt
        await write(self, chunk, summary)  # type: ignore[arg-type]

    monkeypatch.setattr(order_import.OrderImport, "_write", dies_at_the_third_chunk)
    assert run(capsys, str(path))[0] == 130
    assert len(saved(shop)) == 100
    monkeypatch.setattr(order_import.OrderImport, "_write", write)

    code, out, _ = run(capsys, str(path))

    assert code == 0
    assert out.strip() == "big.csv: 180 rows: 80 created, 100 already known, 0 rejected"
    assert len(saved(shop)) == 180


def test_links_of_new_orders_are_written_for_handing_out(
    shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CJM_BOT_USERNAME", "cjm_shop_bot")
    path = write_csv(tmp_path / "orders.csv", GOOD)
    links = tmp_path / "links.csv"

    code, _, _ = run(capsys, str(path), "--links", str(links))

    assert code == 0
    rows = list(csv.reader(links.read_text(encoding="utf-8").splitlines()))
    assert rows[0] == ["external_id", "customer_ref", "link", "valid_until"]
    tokens = stored_tokens(shop)
    assert [(r[0], r[1]) for r in rows[1:]] == [(o[0], o[1]) for o in SAVED]
    for external_id, _, link, _ in rows[1:]:
        assert link == f"https://t.me/cjm_shop_bot?start={tokens[external_id]}"
    # A second import of the same file creates nothing, and lists the same links again:
    # those customers have still not opened the bot.
    first = links.read_text(encoding="utf-8")
    code, out, _ = run(capsys, str(path), "--links", str(links))
    assert code == 0
    assert out.strip() == "orders.csv: 3 rows: 0 created, 3 already known, 0 rejected"
    assert links.read_text(encoding="utf-8") == first


def test_a_rerun_after_a_crash_lists_the_links_of_every_order_still_waiting(
    shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CJM_BOT_USERNAME", "cjm_shop_bot")
    monkeypatch.setattr(order_import, "CHUNK", 50)
    path = big_file(tmp_path / "big.csv", 180)
    links = tmp_path / "links.csv"
    write = order_import.OrderImport._write
    calls = 0

    async def dies_at_the_third_chunk(
        self: order_import.OrderImport, chunk: list[object], summary: object
    ) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt
        await write(self, chunk, summary)  # type: ignore[arg-type]

    monkeypatch.setattr(order_import.OrderImport, "_write", dies_at_the_third_chunk)
    assert run(capsys, str(path), "--links", str(links))[0] == 130
    monkeypatch.setattr(order_import.OrderImport, "_write", write)

    code, out, _ = run(capsys, str(path), "--links", str(links))

    assert code == 0
    assert out.strip() == "big.csv: 180 rows: 80 created, 100 already known, 0 rejected"
    rows = list(csv.reader(links.read_text(encoding="utf-8").splitlines()))
    tokens = stored_tokens(shop)
    assert [row[0] for row in rows[1:]] == [f"N-{n:05d}" for n in range(180)]
    for external_id, ref, link, _ in rows[1:]:
        assert ref == "+7999" + external_id[2:].rjust(7, "0")
        assert link == f"https://t.me/cjm_shop_bot?start={tokens[external_id]}"


async def test_links_without_telegram_import_nothing_and_say_so(
    shop: str,
    api: FakeBotAPI,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CJM_BOT_TOKEN", "123456:TEST")
    monkeypatch.setenv("CJM_TELEGRAM_API_URL", api.url)
    monkeypatch.delenv("CJM_BOT_USERNAME", raising=False)
    api.drop_next("getMe")
    path = await asyncio.to_thread(write_csv, tmp_path / "orders.csv", GOOD)

    code, out, err = await asyncio.to_thread(
        run, capsys, str(path), "--links", str(tmp_path / "links.csv")
    )

    assert (code, out) == (1, "")
    assert err == (
        f"nothing imported: Telegram is unreachable at {api.url}: Server disconnected "
        "(CJM_BOT_USERNAME makes links without asking it)\n"
    )
    assert await asyncio.to_thread(saved, shop) == []


def stored_tokens(url: str) -> dict[str, str]:
    async def query() -> dict[str, str]:
        engine = make_engine(url)
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(Order.external_id, LinkToken.token).join(
                    LinkToken, LinkToken.order_id == Order.id
                )
            )
            found = {row[0]: row[1] for row in rows}
        await engine.dispose()
        return found

    return asyncio.run(query())
