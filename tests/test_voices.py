"""The map's voice lanes (reports.themes) on a small hand-made data set of the cafe
survey: pain themes with counts, shares and change; praise and suggestions apart; the
recurring words no theme covers; the top answers of choice questions.

Current period 2026-11-09..2026-11-16; the baseline is the four weeks before it.

  journey  stage      answers
  1        purchase   ★2, "Очередь огромная, ждал 20 минут"           queue
  2        purchase   ★1, "Долго стоял в очереди"                      queue
  3        purchase   ★3, "Waited ages and the coffee was cold"       queue, food
  4        purchase   ★2, "Бариста нахамил"                            staff
  5        purchase   ★5
  6        purchase   ★2, "Кофемолка грохочет прямо над ухом"          no theme
  7        purchase   ★1, "кофемолка грохочет, невозможно"            no theme
  8        loyalty    NPS 10, praise: "The cinnamon buns and the playlist"
  9        loyalty    NPS 3, "Сделайте вторую кассу, очередь огромная"  queue, a suggestion
  1-4      awareness  heard_from: friends, friends, social, friends
  baseline (October): 10 ★2 "очередь"; 11 ★2 "Бариста грубый"; 12 ★2 "холодный кофе"
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

import surveys
from bot.cli import main
from reports import themes as report_themes
from reports.aggregate import Period
from reports.rollups import refresh
from reports.theme_counts import StageCounts, count_themes, counts_of
from reports.themes import Voices, build_voices
from storage import answers
from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.models import (
    Answer,
    CommentReading,
    Customer,
    Dispatch,
    DispatchStatus,
    Order,
    RollupDay,
)
from surveys.loader import load_survey, parse_survey
from surveys.themes import fingerprint, matchers, themes_of

PERIOD = Period(date(2026, 11, 9), date(2026, 11, 16))
PRAISE = "The cinnamon buns and the playlist"


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 12, tzinfo=UTC)


def visit(journey: int, stars: int, comment: str | None, when: datetime) -> list[tuple]:
    rows = [(journey, "visit_rating", "purchase", None, "rating", when, {"rating": stars})]
    if comment:
        rows.append((journey, "visit_pain", "purchase", None, "text", when, {"comment": comment}))
    return rows


ANSWERS: list[tuple[int, str, str, str | None, str, datetime, dict[str, Any]]] = [
    *visit(1, 2, "Очередь огромная, ждал 20 минут", at(11, 10)),
    *visit(2, 1, "Долго стоял в очереди", at(11, 11)),
    *visit(3, 3, "Waited ages and the coffee was cold", at(11, 12)),
    *visit(4, 2, "Бариста нахамил", at(11, 12)),
    *visit(5, 5, None, at(11, 13)),
    *visit(6, 2, "Кофемолка грохочет прямо над ухом", at(11, 13)),
    *visit(7, 1, "кофемолка грохочет, невозможно", at(11, 14)),
    (8, "nps", "loyalty", "recommendation", "nps", at(11, 14), {"nps": 10}),
    (8, "nps_love", "loyalty", "recommendation", "text", at(11, 14), {"comment": PRAISE}),
    (9, "nps", "loyalty", "recommendation", "nps", at(11, 15), {"nps": 3}),
    (9, "nps_change", "loyalty", "recommendation", "text", at(11, 15),
     {"comment": "Сделайте вторую кассу, очередь огромная"}),
    *[(j, "heard_from", "awareness", t, "choice", at(11, 10), {"choice": c})
      for j, c, t in [(1, "friends", "friends"), (2, "friends", "friends"),
                      (3, "social", "social"), (4, "friends", "friends")]],
    *visit(10, 2, "очередь", at(10, 20)),
    *visit(11, 2, "Бариста грубый", at(10, 21)),
    *visit(12, 2, "холодный кофе", at(10, 22)),
]  # fmt: skip


async def populate(session: AsyncSession, rows: list[tuple[Any, ...]] = ANSWERS) -> None:
    now = at(10, 1)
    await session.execute(insert(Customer).values(id=1, ref="c1", status="active", created_at=now))
    for journey in {row[0] for row in rows}:
        await session.execute(
            insert(Order).values(
                id=journey, external_id=f"o{journey}", customer_id=1, survey_id="cafe",
                source="test", journey="scheduled", purchased_at=now, created_at=now,
            )
        )  # fmt: skip
        await session.execute(
            insert(Dispatch).values(
                id=journey, order_id=journey, customer_id=1, survey_id="cafe",
                wave_id="after_purchase", status=DispatchStatus.ANSWERED, sent_at=now,
                attempts=1, progress={}, created_at=now,
            )
        )  # fmt: skip
    for journey, question, stage, touchpoint, kind, when, values in rows:
        assert await answers.insert(session, {
            "dispatch_id": journey, "order_id": journey, "customer_id": 1,
            "survey_id": "cafe", "wave_id": "after_purchase", "question_id": question,
            "stage": stage, "touchpoint": touchpoint, "kind": kind, "answered_at": when,
            **values,
        })  # fmt: skip


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    async with factory() as filling:
        await populate(filling)
        await filling.commit()
    async with factory() as reading:
        yield reading
    await engine.dispose()


@pytest.fixture
async def voices(session: AsyncSession) -> Voices:
    return await build_voices(session, load_survey("cafe"), PERIOD, locale="en")


async def test_pain_themes_count_customers_with_share_and_change(voices: Voices) -> None:
    purchase = voices.of("purchase")

    assert purchase.unhappy == 6  # journeys 1-4, 6, 7
    queue = purchase.pain[0]
    assert (queue.id, queue.label, queue.customers) == ("queue", "Queue and waiting", 3)
    assert queue.share == pytest.approx(3 / 6)
    assert queue.change == pytest.approx(3 / 6 - 1 / 3)  # October: 1 of 3 unhappy
    assert len(queue.quotes) == 2
    assert set(queue.quotes) < {
        "Очередь огромная, ждал 20 минут", "Долго стоял в очереди",
        "Waited ages and the coffee was cold",
    }  # fmt: skip
    rest = {f.id: (f.customers, f.change) for f in purchase.pain[1:]}
    assert rest == {
        "staff": (1, pytest.approx(1 / 6 - 1 / 3)),
        "food": (1, pytest.approx(1 / 6 - 1 / 3)),
    }


async def test_praise_never_lands_among_the_pain_points(voices: Voices) -> None:
    loyalty = voices.of("loyalty")

    pain_texts = [q for f in loyalty.pain for q in f.quotes] + list(loyalty.pain_quotes)
    assert PRAISE not in pain_texts
    assert all(PRAISE not in q for v in voices.stages.values() for f in v.pain for q in f.quotes)
    assert loyalty.praise_quotes == (PRAISE,)
    assert {f.id for f in loyalty.praise} == {"food", "noise"}
    # The answer to "what should we change" after NPS 3: a complaint about the queue,
    # and a suggestion.
    assert [(f.id, f.customers) for f in loyalty.pain] == [("queue", 1)]
    assert loyalty.unhappy == 1 and loyalty.pain[0].share == 1.0
    assert loyalty.suggestion_quotes == ("Сделайте вторую кассу, очередь огромная",)


async def test_recurring_words_no_theme_covers_are_listed(voices: Voices) -> None:
    purchase = voices.of("purchase")

    assert purchase.uncovered[0].customers == 2
    assert purchase.uncovered[0].text in {"кофемолка грохочет", "кофемолка"}
    assert set(purchase.pain_quotes) == {
        "Кофемолка грохочет прямо над ухом", "кофемолка грохочет, невозможно",
    }  # fmt: skip


async def test_top_answers_of_choice_questions_are_in_their_stage(voices: Voices) -> None:
    (question,) = voices.of("awareness").choices

    assert question.text == "How did you first hear about us?"
    assert question.answers == 4
    assert [(c.label, c.answers, c.share) for c in question.top] == [
        ("From friends or family", 3, 0.75), ("On social media", 1, 0.25),
    ]  # fmt: skip


async def test_choices_of_closed_days_are_counted_from_their_rollup(database_url: str) -> None:
    """Once its days are rolled up, a period's choice answers are read from
    `choice_rollups`: the same top answers with the answers' choices gone; a day rolled
    up before a late answer is read live again once it is stale."""
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    async with factory.begin() as filling:
        await populate(filling)
    survey = load_survey("cafe")
    await refresh(factory, ["cafe"], datetime(2026, 11, 20, tzinfo=UTC))
    async with factory.begin() as session:
        await session.execute(update(Answer).values(choice=None))
    async with factory() as session:
        (question,) = (
            (await build_voices(session, survey, PERIOD, locale="en")).of("awareness").choices
        )
    assert [(c.label, c.answers) for c in question.top] == [
        ("From friends or family", 3), ("On social media", 1),
    ]  # fmt: skip
    async with factory.begin() as session:  # the rollup's days, stale: read live again
        await session.execute(update(RollupDay).values(built_at=None))
    async with factory() as session:
        voices = await build_voices(session, survey, PERIOD, locale="en")
    assert voices.of("awareness").choices == ()
    await engine.dispose()


# -- cjm themes suggest ------------------------------------------------------------------


async def test_themes_suggest_prints_entries_that_paste_into_the_survey(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CJM_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cafe.db'}")
    monkeypatch.delenv("CJM_SURVEY", raising=False)  # the bundled cafe template
    yesterday = datetime.now(UTC) - timedelta(days=1)
    rows = [(j, *rest[:4], yesterday, rest[5]) for j, *rest in ANSWERS if rest[4] >= at(11, 1)]
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'cafe.db'}")
    await upgrade(engine)
    async with make_session_factory(engine)() as session:
        await populate(session, rows)
        await session.commit()
    await engine.dispose()

    code = await asyncio.to_thread(main, ["themes", "suggest", "--days", "7"])

    out = capsys.readouterr().out
    assert code == 0
    assert "  # purchase: 2 customers\n  - id: kofemolka" in out
    template = (Path(surveys.__file__).parent / "templates" / "cafe.yaml").read_text("utf-8")
    entries = out.split("themes:\n", 1)[1]
    survey = parse_survey(template.replace("\nthemes:\n", "\nthemes:\n" + entries), "cafe")
    added = matchers(t for t in survey.themes if t.id.startswith("kofemolka"))
    assert themes_of("Кофемолки грохочут", added)


async def test_themes_suggest_says_when_every_complaint_is_covered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CJM_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.delenv("CJM_SURVEY", raising=False)

    code = await asyncio.to_thread(main, ["themes", "suggest", "--days", "30"])

    assert code == 0
    assert capsys.readouterr().out == (
        "no recurring words outside the survey's themes in the last 30 days\n"
    )
    with pytest.raises(SystemExit) as refused:
        main(["themes", "suggest", "--days", "0"])
    assert refused.value.code == 2
    assert capsys.readouterr().err.endswith(
        "error: argument --days: a whole number of days, 1 or more: '0'\n"
    )


# -- readings kept -----------------------------------------------------------------------


async def test_a_comment_is_read_once_and_its_reading_kept(
    session: AsyncSession, voices: Voices, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = await session.scalars(select(CommentReading))
    by_answer = {r.answer_id: r for r in kept}
    comments = await session.scalar(
        select(func.count()).select_from(Answer).where(Answer.comment.is_not(None))
    )
    assert len(by_answer) == comments == 11
    assert {r.version for r in by_answer.values()} == {fingerprint(load_survey("cafe").themes)}
    queue = [r for r in by_answer.values() if r.themes.split()[:1] == ["queue"]]
    assert len(queue) == 5  # journeys 1, 2, 3 (with food), 9; and 10 in October

    def never(*_: object) -> None:
        raise AssertionError("a kept comment was read again")

    monkeypatch.setattr(report_themes, "read_text", never)
    assert await build_voices(session, load_survey("cafe"), PERIOD, locale="en") == voices


async def test_readings_of_other_themes_are_read_again(
    session: AsyncSession, voices: Voices
) -> None:
    survey = load_survey("cafe")
    queue = next(t for t in survey.themes if t.id == "queue")
    grinder = queue.model_copy(
        update={"id": "grinder", "words": {"ru": ["кофемолка"], "en": ["grinder"]}}
    )
    changed = survey.model_copy(update={"themes": (*survey.themes, grinder)})

    again = await build_voices(session, changed, PERIOD, locale="en")

    assert [(f.id, f.customers) for f in again.of("purchase").pain][:2] == [
        ("queue", 3), ("grinder", 2),
    ]  # fmt: skip
    versions = set(await session.scalars(select(CommentReading.version)))
    assert versions == {fingerprint(changed.themes)} != {fingerprint(survey.themes)}


async def test_a_database_that_refuses_the_readings_loses_nothing(
    session: AsyncSession, voices: Voices, monkeypatch: pytest.MonkeyPatch
) -> None:
    await session.execute(delete(CommentReading))
    await session.commit()

    monkeypatch.setattr(session, "execute", _refusing_inserts(session.execute))
    again = await build_voices(session, load_survey("cafe"), PERIOD, locale="en")

    assert again == voices
    assert await session.scalar(select(func.count()).select_from(CommentReading)) == 0


def _refusing_inserts(execute: Any) -> Any:
    async def guarded(statement: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(statement, "is_insert", False):
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return await execute(statement, *args, **kwargs)

    return guarded


async def test_theme_counts_in_the_database_are_those_of_the_comments_read(
    session: AsyncSession, voices: Voices, monkeypatch: pytest.MonkeyPatch
) -> None:
    survey = load_survey("cafe")
    version = fingerprint(survey.themes)
    themes = [t.id for t in survey.themes]
    fresh: list[dict[str, object]] = []
    compiled = matchers(survey.themes)
    for stage in survey.stages:
        reads = await report_themes._read_stage(
            session, survey, lambda: compiled, stage.id, PERIOD.bounds(), None, fresh
        )
        counted = await count_themes(session, survey, PERIOD.bounds(), None, version)
        assert counted.get(stage.id, StageCounts()) == counts_of(reads, themes), stage.id
    assert fresh == []  # the report kept every reading

    # The quotes read only the newest comments of a stage; the counts are of them all.
    monkeypatch.setattr(report_themes, "COMMENT_LIMIT", 1)
    sampled = await build_voices(session, survey, PERIOD, locale="en")
    assert sampled.of("purchase").pain == tuple(
        dataclasses.replace(f, quotes=sampled.of("purchase").pain[i].quotes)
        for i, f in enumerate(voices.of("purchase").pain)
    )
    assert sampled.of("purchase").unhappy == voices.of("purchase").unhappy == 6


async def test_the_word_sample_reads_a_comment_that_came_without_a_reading(
    session: AsyncSession, voices: Voices
) -> None:
    """The sample reads stored readings, not texts; a comment stored after the report read
    the period's (here: its reading dropped) is read from its text, as a full read does."""
    survey = load_survey("cafe")
    compiled = matchers(survey.themes)
    await session.execute(delete(CommentReading).where(CommentReading.answer_id % 2 == 0))
    sampled: list[dict[str, object]] = []
    words = await report_themes._word_sample(
        session, survey, lambda: compiled, "purchase", PERIOD.bounds(), None, sampled, 100
    )
    full: list[dict[str, object]] = []
    reads = await report_themes._read_stage(
        session, survey, lambda: compiled, "purchase", PERIOD.bounds(), None, full, 100
    )
    assert [(w.journey, w.pain, w.themes, w.terms) for w in words] == [
        (r.journey, r.pain, r.themes, r.terms) for r in reads
    ]
    assert len(words) == 6 and sampled == full != []
