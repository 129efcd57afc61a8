from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from reports.report import Report
from tests.support.clock import FakeClock
from tests.support.databases import (
    REDIS_ENV,
    drop_postgres_database,
    postgres_base_url,
    postgres_database,
    sqlite_copy,
    sqlite_template,
    truncate_all,
)
from tests.support.demo_data import demo_database, demo_report
from tests.support.fake_bot_api import FakeBotAPI
from tests.support.harness import Harness


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return asyncio.run(sqlite_template(tmp_path_factory.mktemp("db")))


@pytest.fixture(scope="session")
def _postgres_url() -> Iterator[str | None]:
    base = postgres_base_url()
    if base is None:
        yield None
        return
    url = asyncio.run(postgres_database(base))
    yield url
    asyncio.run(drop_postgres_database(base, url))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest,
    _sqlite_template: Path,
    _postgres_url: str | None,
    tmp_path: Path,
) -> str:
    """Every test that takes this runs on SQLite and, when configured, PostgreSQL."""
    if request.param == "sqlite":
        return sqlite_copy(_sqlite_template, tmp_path)
    if _postgres_url is None:
        pytest.skip(
            "PostgreSQL tests need CJM_TEST_POSTGRES_URL (e.g. postgresql://127.0.0.1/test)"
        )
    asyncio.run(truncate_all(_postgres_url))
    return _postgres_url


@pytest.fixture
def redis_url() -> str:
    """Tests that need a real Redis run when CJM_TEST_REDIS_URL is set, else skip."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip("Redis tests need CJM_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
    return url


@pytest.fixture
def sqlite_url(_sqlite_template: Path, tmp_path: Path) -> str:
    return sqlite_copy(_sqlite_template, tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as server:
        yield server


@pytest.fixture
async def harness(api: FakeBotAPI, database_url: str, clock: FakeClock) -> AsyncIterator[Harness]:
    async with Harness(api, database_url, clock) as running:
        yield running


@pytest.fixture(scope="session")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo cafe's SQLite database, simulated once per session."""
    return demo_database(tmp_path_factory.mktemp("demo_cafe"))


@pytest.fixture(scope="session")
def cafe_report(demo_url: str) -> Report:
    """The demo cafe's report over the whole simulation, in English."""
    return demo_report(demo_url)
