"""Cut connections (SPEC §4 "Delivery semantics", issue 11): PostgreSQL or Redis cut by
the network — a TCP proxy between `cjm run` and the server closes every connection and
refuses new ones for a few seconds — while real `cjm run` processes drain a backlog
through the fake Bot API over HTTP, and while customers tap their answers. What the
customers saw: every wave once, no customer stranded, no tap lost.

The scenarios are bench/faults.py's, at a small size; there they run at full size."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.faults import SCENARIOS, Outcome, run_scenario
from tests.support.databases import postgres_base_url

WAVES = 48
RATE = 25.0


@pytest.fixture
def postgres() -> str:
    """The server's URL: each scenario makes (and drops) a database of its own on it."""
    base = postgres_base_url()
    if base is None:
        pytest.skip("connection cuts need PostgreSQL: set CJM_TEST_POSTGRES_URL")
    return base


def show_log(tmp_path: Path, name: str) -> None:
    """Printed only when the test fails (pytest captures it)."""
    log = tmp_path / f"{name}.log"
    if log.exists():
        print(log.read_text()[-6000:])


async def scenario(name: str, tmp_path: Path, postgres: str, redis: str | None = None) -> Outcome:
    try:
        outcome = await run_scenario(name, SCENARIOS[name], WAVES, RATE, tmp_path, postgres, redis)
    except BaseException:
        show_log(tmp_path, name)
        raise
    print(outcome)
    return outcome


async def test_postgres_cut_mid_window_sends_every_wave_once(
    postgres: str, tmp_path: Path
) -> None:
    outcome = await scenario("pg-cut", tmp_path, postgres)

    assert (outcome.delivered, outcome.duplicates, outcome.stranded) == (WAVES, 0, 0)
    # The window's requests were answered: their outcome waits for the database, it is
    # not left unknown.
    assert outcome.unknown == 0


async def test_postgres_cut_while_customers_tap_loses_no_tap(
    postgres: str, tmp_path: Path
) -> None:
    outcome = await scenario("pg-taps", tmp_path, postgres)

    # Every customer tapped the first question; every one got the second question,
    # once: no tap confirmed to Telegram before its answer was stored.
    assert (outcome.delivered, outcome.duplicates, outcome.stranded) == (WAVES, 0, 0)
    assert outcome.note.startswith(f"answers stored {WAVES}/{WAVES}")
    assert outcome.unknown == 0


async def test_redis_cut_with_three_processes_sends_every_wave_once(
    postgres: str, redis_url: str, tmp_path: Path
) -> None:
    outcome = await scenario("redis-cut", tmp_path, postgres, redis_url)

    assert (outcome.delivered, outcome.duplicates, outcome.stranded) == (WAVES, 0, 0)
    assert outcome.unknown == 0  # a limiter that cannot reach Redis is no lost request
