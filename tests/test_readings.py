"""Comment readings kept a batch at a time (reports.themes.read_unread, storage.readings):
after a first report reads every comment, the database holds one reading of the survey's
themes per comment, the one reading its text gives now — also when a run stops midway
and a later report takes over, and when the unread comments are scattered among read
ones. On PostgreSQL the table the first batch filled has planner statistics (a generic
plan made without them turned the unread-comments query quadratic: storage.statistics).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from reports import themes as report_themes
from reports.themes import build_voices
from storage.db import make_engine, make_session_factory
from storage.models import Answer, CommentReading
from surveys.loader import load_survey
from surveys.themes import fingerprint, matchers, read_text
from tests.test_voices import ANSWERS, PERIOD, at, populate, visit

BATCH = 4
TEXTS = (
    "Очередь огромная", "Бариста нахамил", "холодный кофе", "Waited ages", "грязно",
    "The cinnamon buns", "долго несли заказ", "музыка громкая", "всё отлично",
)  # fmt: skip
# Twenty more journeys with a comment, through the period and its baseline.
ROWS = [
    *ANSWERS,
    *(
        row
        for journey in range(20, 40)
        for row in visit(journey, journey % 5 + 1, TEXTS[journey % len(TEXTS)],
                         at(10 + journey % 2, 13 + journey % 3))
    ),
]  # fmt: skip
Factory = Callable[[], AsyncSession]


@pytest.fixture
async def factory(database_url: str) -> AsyncIterator[Factory]:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    async with sessions() as filling:
        await populate(filling, ROWS)
        await filling.commit()
    yield sessions
    await engine.dispose()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts read, in order; batches of BATCH comments."""
    monkeypatch.setattr(report_themes, "READ_BATCH", BATCH)
    texts: list[str] = []
    original = report_themes.read_text

    def counted(comment: str, compiled: Any) -> Any:
        texts.append(comment)
        return original(comment, compiled)

    monkeypatch.setattr(report_themes, "read_text", counted)
    return texts


async def expected(session: AsyncSession) -> dict[int, tuple[Any, ...]]:
    """Every comment's reading as the database should hold it: its text read now."""
    themes = load_survey("cafe").themes
    compiled, version = matchers(themes), fingerprint(themes)
    rows = await session.execute(select(Answer.id, Answer.comment).where(Answer.comment != ""))
    kept = {
        answer: report_themes._kept_row(answer, read_text(str(comment), compiled), version)
        for answer, comment in rows
    }
    return {answer: tuple(row.values()) for answer, row in kept.items()}


async def held(session: AsyncSession) -> dict[int, tuple[Any, ...]]:
    table = CommentReading.__table__
    rows = await session.execute(select(*table.c))
    return {int(row[0]): tuple(row) for row in rows}


async def voices(factory: Factory) -> None:
    async with factory() as session:
        await build_voices(session, load_survey("cafe"), PERIOD, locale="en")


async def test_a_batched_first_report_keeps_every_reading(
    factory: Factory, reads: list[str]
) -> None:
    await voices(factory)

    async with factory() as session:
        want = await expected(session)
        assert len(want) == 11 + 20
        assert await held(session) == want
        # Each comment read once, in batches of BATCH.
        assert len(reads) == len(want)


async def test_a_run_stopped_midway_is_completed_by_the_next(
    factory: Factory, reads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    keep = report_themes.keep_readings
    calls = 0

    async def dies_on_the_third_batch(session: AsyncSession, rows: Any) -> bool:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("the worker was killed")
        return await keep(session, rows)

    monkeypatch.setattr(report_themes, "keep_readings", dies_on_the_third_batch)
    with pytest.raises(RuntimeError):
        await voices(factory)

    async with factory() as session:
        want = await expected(session)
        stored = await held(session)
        # The two batches kept before the stop: the lowest ids, each reading complete.
        assert sorted(stored) == sorted(want)[: 2 * BATCH]
        assert stored == {answer: want[answer] for answer in stored}

    monkeypatch.setattr(report_themes, "keep_readings", keep)
    reads.clear()
    await voices(factory)

    async with factory() as session:
        assert await held(session) == want
    assert len(reads) == len(want) - 2 * BATCH  # the kept ones were not read again


async def test_unread_comments_among_read_ones_are_all_read(
    factory: Factory, reads: list[str]
) -> None:
    await voices(factory)
    async with factory() as session:
        want = await expected(session)
        await session.execute(delete(CommentReading).where(CommentReading.answer_id % 3 != 0))
        await session.commit()
        left = await session.scalar(select(func.count()).select_from(CommentReading))
    reads.clear()

    await voices(factory)

    async with factory() as session:
        assert await held(session) == want
    assert len(reads) == len(want) - left


async def test_postgresql_knows_the_size_of_the_readings_after_the_first_batch(
    factory: Factory, reads: list[str]
) -> None:
    async with factory() as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("PostgreSQL's planner statistics")
        pages = text("SELECT relpages FROM pg_class WHERE oid = to_regclass('comment_readings')")
        assert await session.scalar(pages) == 0  # the tests' TRUNCATE: never analysed

    await voices(factory)

    async with factory() as session:
        assert await session.scalar(pages) > 0
        analysed = text(
            "SELECT count(*) FROM pg_stats WHERE tablename = 'comment_readings'"
            " AND attname = 'version'"
        )
        assert await session.scalar(analysed) == 1


async def test_the_unread_comments_are_planned_for_their_window(
    factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL plans the unread-comments query for the window it is given, in every
    batch: a cached generic plan walked the primary key of all the answers for a day."""
    modes: list[str] = []
    original = report_themes.keep_readings

    async def noting(session: AsyncSession, rows: Any) -> bool:
        if rows:  # a batch of read_unread's (the report keeps its stray ones at the end)
            modes.append(str(await session.scalar(text("SHOW plan_cache_mode"))))
        return await original(session, rows)

    monkeypatch.setattr(report_themes, "READ_BATCH", BATCH)
    monkeypatch.setattr(report_themes, "keep_readings", noting)
    async with factory() as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("PostgreSQL's plan cache")
    await voices(factory)

    assert len(modes) > 2
    assert set(modes) == {"force_custom_plan"}
    async with factory() as session:  # only for those transactions
        assert await session.scalar(text("SHOW plan_cache_mode")) == "auto"
