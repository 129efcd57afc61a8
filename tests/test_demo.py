"""`cjm demo`: simulated guests through the real bot, with no token and no network."""

from __future__ import annotations

import asyncio
import io
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from demo.simulation import DemoOptions, DemoResult, run_demo
from reports.render_png import map_lane_texts
from surveys.loader import load_survey
from tests.support.demo_data import START, demo_report

Run = tuple[DemoResult, str, Path]  # the result, what it printed, the database file


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One small demo shared by the in-process tests (it takes a few seconds)."""
    out = tmp_path_factory.mktemp("demo")
    stdout = io.StringIO()
    result = asyncio.run(run_demo(DemoOptions(customers=30, seed=3, out=out, start=START), stdout))
    return result, stdout.getvalue(), out / "demo.db"


def grouped(database: Path, sql: str) -> dict[str, float]:
    """`SELECT key, number … GROUP BY key` straight from the file the demo left behind."""
    with closing(sqlite3.connect(database)) as connection:
        return {str(key): float(value) for key, value in connection.execute(sql)}


def test_every_stage_of_the_cafe_survey_has_answers(demo_run: Run) -> None:
    counts = grouped(demo_run[2], "SELECT stage, count(*) FROM answers GROUP BY stage")
    assert sorted(counts) == sorted(stage.id for stage in load_survey("cafe").stages)
    assert min(counts.values()) > 0


def test_retention_is_rated_below_purchase(demo_run: Run) -> None:
    result, _, database = demo_run
    sql = "SELECT stage, avg(rating) FROM answers WHERE rating IS NOT NULL GROUP BY stage"
    averages = grouped(database, sql)
    assert averages["retention"] < averages["purchase"]
    by_stage = {row.stage: row for row in result.stages}
    assert by_stage["retention"].rating == pytest.approx(averages["retention"])


def test_ignored_waves_are_reminded_then_expire(demo_run: Run) -> None:
    result, _, database = demo_run
    statuses = grouped(database, "SELECT status, count(*) FROM dispatches GROUP BY status")
    assert statuses.get("expired", 0) > 0 and result.waves.reminded > 0
    assert result.waves.expired == statuses["expired"]
    assert statuses["answered"] > statuses["expired"]


def test_comments_are_stored_in_the_guests_words(demo_run: Run) -> None:
    with closing(sqlite3.connect(demo_run[2])) as connection:
        comments = {row[0] for row in connection.execute("SELECT comment FROM answers")}
    assert comments & {"Too far from my office", "Слишком далеко от моего офиса"}


def test_the_summary_is_printed_per_stage(demo_run: Run) -> None:
    result, stdout, database = demo_run
    lines = [line.strip() for line in stdout.splitlines()]
    for row in result.stages:
        line = next((line for line in lines if line.startswith(row.name)), None)
        assert line is not None, stdout
        assert line.split()[1] == str(row.answers)
    assert "day  0: orders 30" in stdout  # progress while it runs
    assert f"Waves: {result.waves.sent} sent" in stdout
    assert f"Database: {database.resolve()}" in stdout


def test_cli_demo_exits_zero(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "cjm",
        "demo",
        "--customers",
        "10",
        "--out",
        str(tmp_path),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "Retention" in done.stdout and (tmp_path / "demo.db").exists()


def test_the_demo_writes_the_report_files_and_says_where(demo_run: Run) -> None:
    _, printed, database = demo_run
    folder = database.parent / "report"
    names = ("map.png", "report.html", "map.csv", "answers.csv", "report.xlsx")
    assert all((folder / name).stat().st_size > 0 for name in names)
    assert (folder / "map.png").read_bytes().startswith(b"\x89PNG")
    assert "The report (as owners get it):" in printed
    assert all(str(folder / name) in printed for name in names)


def test_the_planted_themes_are_the_first_places_to_improve(demo_run: Run) -> None:
    """The queue at purchase and the weak loyalty card at retention (demo/guests.py):
    the summary opens with them, with their counts, and the HTML and the map show them."""
    _, printed, database = demo_run
    folder = database.parent / "report"
    summary = (folder / "summary.txt").read_text(encoding="utf-8").splitlines()

    assert summary[2] == "Places to improve:"
    card = re.fullmatch(
        r"1\. Retention · Return visit — Loyalty card and rewards: (\d+) customers "
        r"\(\d+% of the unhappy\); \d\.\d stars below target",
        summary[3],
    )
    queue = re.fullmatch(
        r"2\. Purchase — Queue and waiting: (\d+) customers \(\d+% of the unhappy\); "
        r"\d\.\d stars below target",
        summary[4],
    )
    assert card and queue, summary[:8]
    assert "\n".join(summary[:8]) in printed  # the demo prints the summary too
    html = (folder / "report.html").read_text(encoding="utf-8")
    shown = html[html.index('<h2 id="places">') :]
    assert shown.index("Loyalty card and rewards: " + card[1]) < shown.index(
        "Queue and waiting: " + queue[1]
    )
    report = demo_report(f"sqlite+aiosqlite:///{database}")
    lane = " ".join(map_lane_texts(report)["places"])
    assert f"Loyalty card and rewards {card[1]}" in lane
    assert f"Queue and waiting {queue[1]}" in lane
