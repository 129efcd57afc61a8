"""What customers say, per stage: the pain themes with their counts and quotes, what they
love, what they suggest, the recurring words no theme covers yet, and the top answers of
the stage's choice questions — the map's "voice" lanes (SPEC §4 "What to do").

The unit is the customer's journey (the order): a theme counts each journey once however
many of its comments name it. A stage's *unhappy* customers are the journeys that answered
it low (rating ≤ LOW_RATING, a negative emotion, NPS ≤ 6) or left a complaint about it.
A theme's share is of those; its change is against the same share over the survey's
baseline periods (`thresholds.baseline_periods`) of the same length just before.

Each comment is read once (`surveys.themes.read_text`) and its reading kept. The theme
counts of the closed days come from their daily rollup (reports.theme_rollup), the days
still open from the readings (reports.theme_counts), so they are of every comment of the
period. Quotes are the newest comments of a readable length among each day's few
candidates; the recurring words are sought among the newest WORDS_SAMPLE comments of a
stage (`ix_answers_comments` hands them over in that order). Counts of unhappy customers
and of choices are aggregated in the database.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, Select, and_, bindparam, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from reports.aggregate import LOW_RATING, Period
from reports.cells import NPS_DETRACTOR
from reports.customers import customer_cells, follow_ups
from reports.days import (
    FirstDay,
    first_answer_day,
    gaps,
    in_bound_runs,
    run_values,
    runs,
)
from reports.days import built_days as rollup_days
from reports.theme_counts import StageCounts, counts_of, window
from reports.theme_rollup import (
    COMMENTED,
    COMPLAINED,
    IDEA,
    PAIN,
    PRAISE,
    QUOTE_CHARS,
    Key,
    asked_intents,
    built_days,
    live_ranges,
    period_themes,
    texts,
)
from storage.models import Answer, ChoiceRollup, CommentReading
from storage.readings import keep_readings
from storage.statistics import plan_for_values
from surveys.model import Intent, Question, QuestionKind, Survey
from surveys.readings import TextReading, decide, fingerprint
from surveys.themes import Matchers, matchers, read_text

COMMENT_LIMIT = 2000  # comments of a stage read when the readings cannot be kept
# The newest comments of a stage the map's recurring words are sought in (`cjm themes
# suggest` reads COMMENT_LIMIT).
WORDS_SAMPLE = 300
QUOTES = 2
READ_BATCH = 1000  # unread comments read and kept per round trip
TERMS = 5  # uncovered words and phrases listed per stage


@dataclass(frozen=True, slots=True)
class ThemeFigure:
    id: str
    label: str
    customers: int  # journeys whose comments name the theme
    share: float | None  # of the stage's unhappy customers (pain), of all commenters else
    change: float | None  # share minus the baseline's share; None without a baseline
    quotes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Term:
    """A recurring word or phrase of the comments no theme covers."""

    text: str
    customers: int
    language: str  # ru or en: where a suggested theme lists it


@dataclass(frozen=True, slots=True)
class Choice:
    label: str
    answers: int
    share: float  # of the question's answers


@dataclass(frozen=True, slots=True)
class ChoiceQuestion:
    text: str
    answers: int
    top: tuple[Choice, ...]


@dataclass(frozen=True, slots=True)
class StageVoice:
    doing: str | None = None  # the survey's actions lane for the stage
    thinking: str | None = None  # and its thoughts lane
    unhappy: int = 0  # customers who answered the stage low or complained about it
    pain: tuple[ThemeFigure, ...] = ()
    # touchpoint id → its pain themes
    touchpoints: dict[str, tuple[ThemeFigure, ...]] = field(default_factory=dict)
    pain_quotes: tuple[str, ...] = ()  # complaints no theme covers
    uncovered: tuple[Term, ...] = ()
    praise: tuple[ThemeFigure, ...] = ()
    praise_quotes: tuple[str, ...] = ()
    suggestions: tuple[ThemeFigure, ...] = ()
    suggestion_quotes: tuple[str, ...] = ()
    choices: tuple[ChoiceQuestion, ...] = ()

    @property
    def said(self) -> bool:
        """Whether any comment of the period reached a lane."""
        return bool(self.pain or self.pain_quotes or self.praise_quotes or self.suggestion_quotes)


@dataclass(frozen=True, slots=True)
class Voices:
    stages: dict[str, StageVoice] = field(default_factory=dict)

    def of(self, stage: str) -> StageVoice:
        return self.stages.get(stage, NO_VOICE)


NO_VOICE = StageVoice()
NO_VOICES = Voices()


@dataclass(frozen=True, slots=True)
class Read:
    """One comment, read."""

    journey: int
    touchpoint: str | None
    text: str
    at: datetime
    intent: Intent | None
    pain: bool
    low: bool
    themes: tuple[str, ...]
    terms: frozenset[tuple[str, str]] = frozenset()  # (key, form): words and word pairs


# -- the database ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Row:
    answer: int
    journey: int
    touchpoint: str | None
    question: str
    text: str
    at: datetime
    low: bool
    stored: TextReading | None  # its reading, when one of this version is kept


@functools.cache
def _comments_query(by_segment: bool, limit: int) -> Select[Any]:
    """The stage's newest comments with their texts and readings, built once and bound
    per call (`_values`): a report asks it for every stage."""
    return _newest_comments(
        by_segment, limit, Answer.id, Answer.order_id, Answer.touchpoint, Answer.question_id,
        Answer.comment, Answer.answered_at,
    )  # fmt: skip


@functools.cache
def _sample_query(by_segment: bool, limit: int) -> Select[Any]:
    """As `_comments_query`, without what only quotes need (text, time, touchpoint): the
    word sample reads the stored readings alone."""
    return _newest_comments(by_segment, limit, Answer.id, Answer.order_id, Answer.question_id)


def _newest_comments(by_segment: bool, limit: int, *columns: Any) -> Select[Any]:
    """`columns`, then whether the same wave answered the stage low, then the stored
    reading of `version` (NULLs without one), of the stage's newest comments."""
    stage: BindParameter[str] = bindparam("stage", type_=Answer.stage.type)
    same = aliased(Answer)
    low = (
        select(func.count())
        .where(
            same.dispatch_id == Answer.dispatch_id,
            same.stage == stage,
            or_(same.rating <= LOW_RATING, same.valence < 0, same.nps <= NPS_DETRACTOR),
        )
        .scalar_subquery()
    )
    kept = CommentReading
    conditions = [
        Answer.survey_id == bindparam("survey_id"),
        Answer.answered_at >= bindparam("start"),
        Answer.answered_at < bindparam("end"),
    ]
    if by_segment:
        conditions.append(Answer.segment == bindparam("segment"))
    return (
        select(
            *columns, low, kept.themes, kept.denied, kept.said, kept.says_nothing, kept.terms
        )
        .outerjoin(kept, and_(kept.answer_id == Answer.id, kept.version == bindparam("version")))
        .where(
            *conditions, Answer.stage == stage, Answer.comment.is_not(None),
            Answer.comment != "",
        )
        .order_by(Answer.answered_at.desc(), Answer.id.desc())
        .limit(limit)
    )  # fmt: skip


def _values(
    survey_id: str,
    stage: str,
    bounds: tuple[datetime, datetime],
    segment: str | None,
    version: str,
) -> dict[str, object]:
    start, end = bounds
    values = {"survey_id": survey_id, "stage": stage, "start": start, "end": end}
    return values | {"version": version, "segment": segment}


async def _comments(
    session: AsyncSession,
    survey_id: str,
    stage: str,
    bounds: tuple[datetime, datetime],
    segment: str | None,
    version: str,
    limit: int,
) -> list[_Row]:
    """The stage's newest comments, each with its stored reading of `version` if any:
    low when the same wave answered the stage low."""
    statement = _comments_query(segment is not None, limit)
    values = _values(survey_id, stage, bounds, segment, version)
    rows = (await session.execute(statement, values)).all()
    return [
        _Row(
            int(row[0]),
            int(row[1]),
            row[2],
            row[3],
            str(row[4]),
            row[5],
            bool(row[6]),
            None if row[7] is None else _stored(*row[7:]),
        )
        for row in rows
    ]


_WORD_END, _TERM_END = "\x1f", "\x1e"


def _stored(themes: str, denied: str, said: str | None, nothing: bool, terms: str) -> TextReading:
    intent = Intent(said) if said else None
    return TextReading(
        tuple(themes.split()), tuple(denied.split()), intent, nothing, _stored_terms(terms)
    )


def _stored_terms(terms: str) -> tuple[tuple[str, str], ...]:
    return tuple(
        (stem, form)
        for stem, _, form in (t.partition(_WORD_END) for t in terms.split(_TERM_END) if t)
    )


def _kept_row(answer: int, reading: TextReading, version: str) -> dict[str, object]:
    return {
        "answer_id": answer, "version": version, "themes": " ".join(reading.themes),
        "denied": " ".join(reading.denied),
        "said": reading.said.value if reading.said else None, "says_nothing": reading.nothing,
        "terms": _TERM_END.join(f"{stem}{_WORD_END}{form}" for stem, form in reading.terms),
    }  # fmt: skip


async def unhappy_customers(
    session: AsyncSession,
    survey: Survey,
    bounds: tuple[datetime, datetime],
    segment: str | None,
) -> dict[str, int]:
    """stage → customers who answered it low (reports.customers: closed days from the
    rollup, a customer counted once a day)."""
    start, end = (moment.date() for moment in bounds)
    cells = await customer_cells(session, survey.id, start, end, segment, follow_ups(survey))
    return {stage: figures.low for stage, figures in cells.stages.items()}


# _choices' statements: built once per shape, bound per call (see reports.days).


@functools.lru_cache(maxsize=64)
def _rolled_choices(ranges: int, by_segment: bool) -> Select[*tuple[Any, ...]]:
    conditions = [
        ChoiceRollup.survey_id == bindparam("survey_id"),
        in_bound_runs(ChoiceRollup.day, ranges),
    ]
    if by_segment:
        conditions.append(ChoiceRollup.segment == bindparam("segment"))
    keys = (ChoiceRollup.question_id, ChoiceRollup.choice)
    return select(*keys, func.sum(ChoiceRollup.answers)).where(*conditions).group_by(*keys)


@functools.cache
def _live_choices(by_segment: bool) -> Select[*tuple[Any, ...]]:
    day = Answer.day
    conditions = [
        Answer.survey_id == bindparam("survey_id"), Answer.choice.is_not(None),
        day >= bindparam("start", type_=day.type), day < bindparam("end", type_=day.type),
    ]  # fmt: skip
    if by_segment:
        conditions.append(Answer.segment == bindparam("segment"))
    return (
        select(Answer.question_id, Answer.choice, func.count())
        .where(*conditions)
        .group_by(Answer.day, Answer.question_id, Answer.choice)
    )


async def _choices(
    session: AsyncSession, survey_id: str, bounds: tuple[datetime, datetime], segment: str | None
) -> dict[tuple[str, str], int]:
    """(question id, option id) → answers: the closed days' from `choice_rollups`, the
    others on the partial index `ix_answers_choices`, counted per day in the index's order
    (no sort of every choice of the period)."""
    first, after = (moment.date() for moment in bounds)
    built = await rollup_days(session, survey_id, first, after)
    counts: Counter[tuple[str, str]] = Counter()
    connection = await session.connection()  # Core: no ORM handling of the calls
    if built:
        ranges = runs(built)
        values = {"survey_id": survey_id, "segment": segment, **run_values(ranges)}
        rolled = _rolled_choices(len(ranges), segment is not None)
        for question, choice, n in (await connection.execute(rolled, values)).all():
            counts[question, choice] += int(n)
    for start, end in gaps(first, after, built):
        values = {"survey_id": survey_id, "segment": segment, "start": start, "end": end}
        live = _live_choices(segment is not None)
        for question_id, option, n in (await connection.execute(live, values)).all():
            if option is not None:
                counts[question_id, option] += int(n)
    return dict(counts)


# -- reading -----------------------------------------------------------------------------


async def read_unread(
    session: AsyncSession,
    survey_id: str,
    bounds: tuple[datetime, datetime],
    version: str,
    compiled: Callable[[], Matchers],
    keep: Any,
) -> bool:
    """Read and keep every comment of the window without a reading of `version`; False
    when the database would not keep them (the caller counts what it read instead).
    `keep(answer id, reading)` turns a reading into its stored row; `compiled()` gives
    the themes' matchers (compiled only when a comment needs reading)."""
    kept = CommentReading
    current = exists().where(kept.answer_id == Answer.id, kept.version == version)
    after = 0
    while True:
        # Each batch starts after the last one's ids: from the window's start, every
        # batch would walk past all the comments read so far (quadratic in a first
        # report that reads 100,000 comments).
        statement = (
            select(Answer.id, Answer.comment)
            .where(*window(survey_id, bounds), Answer.id > after, ~current)
            .order_by(Answer.id)
            .limit(READ_BATCH)
        )
        # A day's window and months of them want different plans (storage.statistics).
        await plan_for_values(session)
        rows = (await (await session.connection()).execute(statement)).all()
        if not rows:
            break
        readings = [keep(int(i), read_text(str(text), compiled())) for i, text in rows]
        if not await keep_readings(session, readings):
            return False
        if len(rows) < READ_BATCH:
            break
        after = int(rows[-1][0])
    return True


def _questions(survey: Survey) -> dict[str, Question]:
    return {q.id: q for wave in survey.waves for q in wave.questions}


async def _read_stage(
    session: AsyncSession,
    survey: Survey,
    compiled: Callable[[], Matchers],
    stage: str,
    bounds: tuple[datetime, datetime],
    segment: str | None,
    fresh: list[dict[str, object]],
    limit: int | None = None,
) -> list[Read]:
    """The stage's comments, read: from their stored readings, or read now (and added to
    `fresh`, for the caller to keep)."""
    questions = _questions(survey)
    version = fingerprint(survey.themes)
    result = []
    limit = COMMENT_LIMIT if limit is None else limit
    for row in await _comments(session, survey.id, stage, bounds, segment, version, limit):
        text_reading = row.stored
        if text_reading is None:
            text_reading = read_text(row.text, compiled())
            fresh.append(_kept_row(row.answer, text_reading, version))
        question = questions.get(row.question)
        asked = question.comment_intent if question is not None else None
        reading = decide(text_reading, asked, row.low)
        themes = text_reading.found.of(reading.intent)
        result.append(
            Read(
                row.journey,
                row.touchpoint,
                row.text,
                row.at,
                reading.intent,
                reading.pain,
                row.low,
                themes,
                _terms(text_reading.terms),
            )
        )
    return result


@dataclass(frozen=True, slots=True)
class Words:
    """A comment of the word sample: what the recurring words need of it."""

    journey: int
    pain: bool
    themes: tuple[str, ...]
    terms: frozenset[tuple[str, str]]


async def _word_sample(
    session: AsyncSession,
    survey: Survey,
    compiled: Callable[[], Matchers],
    stage: str,
    bounds: tuple[datetime, datetime],
    segment: str | None,
    fresh: list[dict[str, object]],
    limit: int,
    version: str | None = None,
) -> list[Words]:
    """The stage's newest comments as the recurring words need them, from their stored
    readings. A comment without one (it came after the caller read the period's) is read
    now from its text and added to `fresh`; one forgotten since is left out."""
    asked = asked_intents(survey)
    version = version or fingerprint(survey.themes)
    statement = _sample_query(segment is not None, limit)
    values = _values(survey.id, stage, bounds, segment, version)
    connection = await session.connection()  # Core rows: the ORM's handling costs more
    rows = (await connection.execute(statement, values)).all()
    unread = await texts(session, (int(row[0]) for row in rows if row[4] is None))
    # Most comments of a stage read alike but for their words: what the rest decides is
    # worked out once per reading, question intent and lowness.
    decided: dict[tuple[Any, ...], tuple[bool, tuple[str, ...]]] = {}
    # Short comments recur word for word ("долго", "всё отлично"): their terms are
    # made once per stored text of them, and shared (frequencies counts them once too).
    made: dict[str, frozenset[tuple[str, str]]] = {}
    result = []
    for answer, journey, question, low, themes, denied, said, nothing, stored in rows:
        intent = asked.get(question)
        if themes is not None:
            alike = (themes, denied, said, nothing, intent, bool(low))
            if alike not in decided:
                reading = _stored(themes, denied, said, nothing, "")
                decided[alike] = _pain(reading, intent, bool(low))
            pain, found = decided[alike]
            terms = made.get(stored)
            if terms is None:
                terms = made[stored] = _terms(_stored_terms(stored))
        elif int(answer) in unread:
            reading = read_text(unread[int(answer)], compiled())
            fresh.append(_kept_row(int(answer), reading, version))
            pain, found = _pain(reading, intent, bool(low))
            terms = _terms(reading.terms)
        else:
            continue
        result.append(Words(int(journey), pain, found, terms))
    return result


def _pain(reading: TextReading, asked: Intent | None, low: bool) -> tuple[bool, tuple[str, ...]]:
    """Whether the comment is pain, and its themes as its intent counts them."""
    decided = decide(reading, asked, low)
    return decided.pain, reading.found.of(decided.intent)


# -- figures -----------------------------------------------------------------------------


def _quotes(reads: Sequence[Read], limit: int = QUOTES) -> tuple[str, ...]:
    """Representative quotes: distinct, of a readable length, the most recent first."""
    chosen: list[str] = []
    ordered = sorted(
        reads, key=lambda r: (not 12 <= len(r.text) <= QUOTE_CHARS, -r.at.timestamp())
    )
    for r in ordered:
        text = _shorten(r.text)
        if text.casefold() not in {c.casefold() for c in chosen}:
            chosen.append(text)
        if len(chosen) == limit:
            break
    return tuple(chosen)


def _shorten(text: str, limit: int = QUOTE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _figures(
    survey: Survey,
    locale: str,
    counts: Mapping[str, int],
    total: int,
    quotes: Mapping[Key, tuple[str, ...]],
    lane: tuple[str, str, str],
    before: Mapping[str, int] | None = None,
    before_total: int = 0,
) -> tuple[ThemeFigure, ...]:
    """Each theme's customers with its share of `total` and its change against the
    baseline's share; its quotes of `lane` (stage, touchpoint or '', role)."""
    result = []
    for theme in survey.themes:
        customers = counts.get(theme.id, 0)
        if not customers:
            continue
        share = customers / total if total else None
        earlier = (before or {}).get(theme.id, 0) / before_total if before_total else None
        change = None if share is None or earlier is None else share - earlier
        said = quotes.get((*lane, theme.id), ())
        label = survey.text(theme.label, locale)
        result.append(ThemeFigure(theme.id, label, customers, share, change, said))
    return tuple(sorted(result, key=lambda f: (-f.customers, f.label)))


def _choice_lane(
    survey: Survey, stage: str, counts: dict[tuple[str, str], int], locale: str
) -> tuple[ChoiceQuestion, ...]:
    lanes = []
    for question in _questions(survey).values():
        if question.stage != stage or question.kind is not QuestionKind.CHOICE:
            continue
        answered = [(o, counts.get((question.id, o.id), 0)) for o in question.options]
        total = sum(n for _, n in answered)
        if not total:
            continue
        top = sorted(answered, key=lambda item: -item[1])[:3]
        choices = tuple(Choice(survey.text(o.label, locale), n, n / total) for o, n in top if n)
        lanes.append(ChoiceQuestion(survey.text(question.text, locale), total, choices))
    return tuple(lanes)


# -- words no theme covers ---------------------------------------------------------------


def _terms(content: Sequence[tuple[str, str]]) -> frozenset[tuple[str, str]]:
    """(key, surface form) of the comment's content words and adjacent pairs of them."""
    terms = set(content)
    pairs = itertools.pairwise(content)
    terms |= {(f"{a} {b}", f"{x} {y}") for (a, x), (b, y) in pairs}
    return frozenset(terms)


def frequencies(reads: Iterable[Read | Words]) -> tuple[Counter[str], int]:
    """In how many of the comments each term key occurs, and how many comments."""
    counts: Counter[str] = Counter()
    # Comments with the same terms (the word sample shares one set among them) counted
    # at once, in the order they first come, as one by one.
    alike = Counter(r.terms for r in reads)
    for terms, times in alike.items():
        keys = {key for key, _ in terms}
        if times == 1:
            counts.update(keys)
        else:
            for key in keys:
                counts[key] += times
    return counts, alike.total()


def uncovered(
    stage_reads: Sequence[Read | Words],
    other_reads: Sequence[Read | Words] | tuple[Counter[str], int],
    limit: int = TERMS,
) -> tuple[Term, ...]:
    """The words and phrases that recur among the stage's complaints no theme covers and
    are distinctive for the stage: more frequent there than in the other stages'
    comments (smoothed log-odds), said by at least two customers."""
    lonely = [r for r in stage_reads if r.pain and not r.themes]
    here: dict[str, set[int]] = defaultdict(set)
    forms: dict[str, Counter[str]] = defaultdict(Counter)
    for r in lonely:
        for key, form in r.terms:
            here[key].add(r.journey)
            forms[key][form] += 1
    elsewhere, others = other_reads if isinstance(other_reads, tuple) else frequencies(other_reads)
    n_here, n_else = max(1, len(lonely)), max(1, others)
    scored = []
    for key, journeys in here.items():
        if len(journeys) < 2:
            continue
        ratio = ((len(journeys) + 0.5) / n_here) / ((elsewhere[key] + 0.5) / n_else)
        if ratio > 1:
            phrase = " " in key
            scored.append((len(journeys) * math.log(ratio) * (1.5 if phrase else 1), key))
    result: list[Term] = []
    chosen: list[set[int]] = []
    for _, key in sorted(scored, reverse=True):
        form = forms[key].most_common(1)[0][0]
        # The same customers' words again: a piece of a phrase already listed.
        if any(here[key] <= journeys for journeys in chosen):
            continue
        chosen.append(here[key])
        language = "ru" if any("а" <= ch <= "я" or ch == "ё" for ch in form) else "en"
        result.append(Term(form, len(here[key]), language))
        if len(result) == limit:
            break
    return tuple(result)


# -- the stage lanes ---------------------------------------------------------------------


def _voice(
    survey: Survey,
    locale: str,
    stage: str,
    reads: Sequence[Read | Words],
    others: tuple[Counter[str], int],
    counts: StageCounts,
    quotes: Mapping[Key, tuple[str, ...]],
    unhappy_low: int,
    before: StageCounts,
    before_unhappy_low: int,
    choices: tuple[ChoiceQuestion, ...],
) -> StageVoice:
    unhappy = unhappy_low + counts.complained
    unhappy_before = before_unhappy_low + before.complained
    touchpoints = {
        tp: _figures(survey, locale, found, unhappy, quotes, (stage, tp, PAIN))
        for tp, found in sorted(counts.touchpoints.items())
    }
    lane = (stage, "")
    return StageVoice(
        unhappy=unhappy,
        pain=_figures(
            survey, locale, counts.pain, unhappy, quotes, (*lane, PAIN), before.pain,
            unhappy_before,
        ),
        touchpoints={tp: figures for tp, figures in touchpoints.items() if figures},
        pain_quotes=quotes.get((*lane, PAIN, ""), ()),
        uncovered=uncovered(reads, others),
        praise=_figures(survey, locale, counts.praise, counts.commenters, quotes, (*lane, PRAISE)),
        praise_quotes=quotes.get((*lane, PRAISE, ""), ()),
        suggestions=_figures(
            survey, locale, counts.suggestions, counts.commenters, quotes, (*lane, IDEA)
        ),
        suggestion_quotes=quotes.get((*lane, IDEA, ""), ()),
        choices=choices,
    )  # fmt: skip


def quotes_of(
    stage: str, reads: Sequence[Read], themes: Sequence[str]
) -> dict[Key, tuple[str, ...]]:
    """The quotes of every lane of a stage from comments in hand."""
    pain = [r for r in reads if r.pain]
    praise = [r for r in reads if r.intent is Intent.PRAISE]
    ideas = [r for r in reads if r.intent is Intent.SUGGESTION]
    result = {
        (stage, "", PAIN, ""): _quotes([r for r in pain if not r.themes]),
        (stage, "", PRAISE, ""): _quotes(praise),
        (stage, "", IDEA, ""): _quotes(ideas),
    }
    points = sorted({r.touchpoint for r in pain if r.touchpoint})
    for t in themes:
        for role, said in ((PAIN, pain), (PRAISE, praise), (IDEA, ideas)):
            result[stage, "", role, t] = _quotes([r for r in said if t in r.themes])
        for tp in points:
            result[stage, tp, PAIN, t] = _quotes(
                [r for r in pain if r.touchpoint == tp and t in r.themes]
            )
    return result


def stage_counts(customers: Mapping[Key, int], themes: Sequence[str]) -> dict[str, StageCounts]:
    """reports.theme_counts' counts from a period's customers per key."""
    result: dict[str, StageCounts] = {}
    known = set(themes)
    for (stage, point, role, theme), n in sorted(customers.items()):
        if not n:
            continue
        counts = result.setdefault(stage, StageCounts())
        if role == COMMENTED:
            counts.commenters = n
        elif role == COMPLAINED:
            counts.complained = n
        elif theme not in known:
            continue
        elif role == PAIN and point:
            counts.touchpoints.setdefault(point, {})[theme] = n
        elif role == PAIN:
            counts.pain[theme] = n
        elif role == PRAISE:
            counts.praise[theme] = n
        elif role == IDEA:
            counts.suggestions[theme] = n
    return result


async def _picked(
    session: AsyncSession, candidates: Mapping[Key, Sequence[int]]
) -> dict[Key, tuple[str, ...]]:
    """Each key's quotes from its candidates (best first): distinct, shortened."""
    first = {key: list(ids[: QUOTES + 4]) for key, ids in candidates.items()}
    said = await texts(session, (a for ids in first.values() for a in ids))
    result = {}
    for key, ids in first.items():
        chosen: list[str] = []
        for answer in ids:
            if answer not in said:
                continue  # forgotten since
            text = _shorten(said[answer])
            if text.casefold() not in {c.casefold() for c in chosen}:
                chosen.append(text)
            if len(chosen) == QUOTES:
                break
        result[key] = tuple(chosen)
    return result


async def build_voices(
    session: AsyncSession,
    survey: Survey,
    period: Period,
    segment: str | None = None,
    locale: str | None = None,
    unhappy: tuple[Mapping[str, int], Mapping[str, int]] | None = None,
    sample: int = WORDS_SAMPLE,
    known: FirstDay | None = None,
) -> Voices:
    """Every stage's voice lanes for `period`, with the theme shares' change against the
    survey's baseline periods before it. `unhappy`: per stage, the customers who
    answered it low in the period and in the baseline, and `known`, the survey's first
    answer day, when the caller has them."""
    locale = locale or survey.default_locale
    # Compiling the themes' matchers takes milliseconds; once every comment has its
    # reading kept, a report never needs them.
    compiled = functools.cache(lambda: matchers(survey.themes))
    now, before = period.bounds(), _baseline(period, survey.thresholds.baseline_periods)
    if unhappy is None:
        unhappy = (
            await unhappy_customers(session, survey, now, segment),
            await unhappy_customers(session, survey, before, segment),
        )
    unhappy_now, unhappy_before = unhappy
    choices = await _choices(session, survey.id, now, segment)
    version = fingerprint(survey.themes)
    themes = [t.id for t in survey.themes]
    # The days the theme rollup holds are counted from it (reports.theme_rollup); every
    # comment of the other days is read (once: the readings are kept) and counted live.
    first, last = before[0].date(), now[1].date()
    built = await built_days(session, survey.id, first, last, version)
    counted = True
    for unrolled in live_ranges(first, last, built):
        counted = counted and await read_unread(
            session, survey.id, unrolled, version, compiled, lambda i, r: _kept_row(i, r, version)
        )
    fresh: list[dict[str, object]] = []
    if counted:
        day = known or FirstDay(await first_answer_day(session, survey.id))
        found = await period_themes(session, survey, now, segment, version, built, first=day)
        earlier = await period_themes(
            session, survey, before, segment, version, built, quotes=False, first=day
        )
        counts = stage_counts(found.customers, themes)
        counts_before = stage_counts(earlier.customers, themes)
        quotes = await _picked(session, found.quotes)
        # The recurring words are sought among the newest comments of each stage.
        reads: dict[str, Sequence[Read | Words]] = {
            s.id: await _word_sample(
                session, survey, compiled, s.id, now, segment, fresh, sample, version
            )
            for s in survey.stages
        }
    else:  # the database would not keep the readings: count the comments in hand
        read = {
            s.id: await _read_stage(session, survey, compiled, s.id, now, segment, fresh)
            for s in survey.stages
        }
        reads = dict(read)
        counts = {ident: counts_of(rs, themes) for ident, rs in read.items()}
        counts_before = {
            s.id: counts_of(
                await _read_stage(session, survey, compiled, s.id, before, segment, fresh),
                themes,
            )
            for s in survey.stages
        }
        quotes = {}
        for ident, rs in read.items():
            quotes.update(quotes_of(ident, rs, themes))
    # Each stage's terms are compared with every other stage's: count them once.
    frequency = {ident: frequencies(rs) for ident, rs in reads.items()}
    every: Counter[str] = sum((c for c, _ in frequency.values()), Counter())
    stages = {}
    for stage in survey.stages:
        own, n_own = frequency[stage.id]
        others = (every - own, sum(n for _, n in frequency.values()) - n_own)
        voice = _voice(
            survey, locale, stage.id, reads[stage.id], others,
            counts.get(stage.id, StageCounts()), quotes, unhappy_now.get(stage.id, 0),
            counts_before.get(stage.id, StageCounts()), unhappy_before.get(stage.id, 0),
            _choice_lane(survey, stage.id, choices, locale),
        )  # fmt: skip
        stages[stage.id] = dataclasses.replace(
            voice,
            doing=survey.text(stage.doing, locale) if stage.doing else None,
            thinking=survey.text(stage.thinking, locale) if stage.thinking else None,
        )
    await keep_readings(session, fresh)
    return Voices(stages)


def _baseline(period: Period, periods: int) -> tuple[datetime, datetime]:
    start, _ = period.bounds()
    return start - timedelta(days=periods * period.days), start


async def uncovered_terms(
    session: AsyncSession, survey: Survey, period: Period, segment: str | None = None
) -> dict[str, tuple[Term, ...]]:
    """stage id → the recurring words and phrases of its complaints no theme covers."""
    voices = await build_voices(session, survey, period, segment, sample=COMMENT_LIMIT)
    return {stage: voice.uncovered for stage, voice in voices.stages.items() if voice.uncovered}


# -- `cjm themes suggest` ----------------------------------------------------------------

_CYRILLIC_LETTERS = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
_LATIN_SOUNDS = "a b v g d e e zh z i i k l m n o p r s t u f kh ts ch sh shch _ y _ e yu ya"
_LATIN = dict(zip(_CYRILLIC_LETTERS, _LATIN_SOUNDS.split(), strict=True))


def theme_id(text: str) -> str:
    """A survey id for a suggested theme: transliterated, lowercase snake_case."""
    latin = "".join(_LATIN.get(ch, ch) for ch in text.lower())
    ident = "_".join(part for part in re.split(r"[^a-z0-9]+", latin.replace("_", " ")) if part)
    if not ident or not ident[0].isalpha():
        ident = f"theme_{ident}"
    return ident[:32].rstrip("_")


def suggested_themes(survey: Survey, terms: dict[str, tuple[Term, ...]]) -> str:
    """`themes:` entries ready to paste into the survey file, one per uncovered term,
    its label in every language of the survey (to be translated by the owner)."""
    known = {t.id for t in survey.themes}
    lines = ["themes:"]
    for stage in survey.stages:
        for term in terms.get(stage.id, ()):
            ident = theme_id(term.text)
            if ident in known:
                continue
            known.add(ident)
            quoted = json.dumps(term.text, ensure_ascii=False)
            label = ", ".join(f"{locale}: {quoted}" for locale in survey.locales)
            lines += [
                f"  # {stage.id}: {term.customers} customers",
                f"  - id: {ident}",
                f"    label: {{{label}}}",
                f"    words: {{{term.language}: [{quoted}]}}",
            ]
    return "\n".join(lines) + "\n" if len(lines) > 1 else ""
