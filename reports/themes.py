"""What customers say, per stage: the pain themes with their counts and quotes, what they
love, what they suggest, the recurring words no theme covers yet, and the top answers of
the stage's choice questions — the map's "voice" lanes (SPEC §4 "What to do").

The unit is the customer's journey (the order): a theme counts each journey once however
many of its comments name it. A stage's *unhappy* customers are the journeys that answered
it low (rating ≤ LOW_RATING, a negative emotion, NPS ≤ 6) or left a complaint about it.
A theme's share is of those; its change is against the same share over the BASELINE
periods of the same length just before.

Comments are read in Python (themes need words, not GROUP BY), newest first, at most
COMMENT_LIMIT a stage and period: the index `ix_answers_comments` hands them over in that
order, so the cost stays flat however many answers the period holds. Counts of unhappy
customers and of choices are aggregated in the database.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from reports.aggregate import LOW_RATING, Period
from storage.models import Answer
from surveys.model import Intent, Question, QuestionKind, Survey
from surveys.themes import (
    NEGATORS,
    NOTHING,
    STOPWORDS,
    Matchers,
    find_themes,
    matchers,
    read,
    words,
)

COMMENT_LIMIT = 2000  # the most recent comments of a stage read per period
BASELINE = 4  # periods before this one that make the baseline
QUOTES = 2
QUOTE_CHARS = 160
TERMS = 5  # uncovered words and phrases listed per stage
DETRACTOR = 6  # NPS 0-6


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


# -- the database ------------------------------------------------------------------------


def _where(
    survey_id: str, start: datetime, end: datetime, segment: str | None
) -> list[ColumnElement[bool]]:
    conditions = [
        Answer.survey_id == survey_id,
        Answer.answered_at >= start,
        Answer.answered_at < end,
    ]
    if segment is not None:
        conditions.append(Answer.segment == segment)
    return conditions


async def _comments(
    session: AsyncSession,
    survey_id: str,
    stage: str,
    bounds: tuple[datetime, datetime],
    segment: str | None,
) -> list[tuple[int, str | None, str, str, datetime, bool]]:
    """(journey, touchpoint, question id, text, answered at, low) of the stage's newest
    comments: low when the same wave answered the stage low."""
    same = aliased(Answer)
    low = (
        select(func.count())
        .where(
            same.dispatch_id == Answer.dispatch_id,
            same.stage == stage,
            or_(same.rating <= LOW_RATING, same.valence < 0, same.nps <= DETRACTOR),
        )
        .scalar_subquery()
    )
    statement = (
        select(
            Answer.order_id, Answer.touchpoint, Answer.question_id, Answer.comment,
            Answer.answered_at, low,
        )
        .where(
            *_where(survey_id, *bounds, segment), Answer.stage == stage,
            Answer.comment.is_not(None), Answer.comment != "",
        )
        .order_by(Answer.answered_at.desc(), Answer.id.desc())
        .limit(COMMENT_LIMIT)
    )  # fmt: skip
    rows = (await session.execute(statement)).all()
    return [(int(j), tp, q, str(text), at, bool(n)) for j, tp, q, text, at, n in rows]


async def _unhappy(
    session: AsyncSession, survey_id: str, bounds: tuple[datetime, datetime], segment: str | None
) -> dict[str, int]:
    """stage → journeys that answered it low."""
    statement = (
        select(Answer.stage, func.count(func.distinct(Answer.order_id)))
        .where(
            *_where(survey_id, *bounds, segment),
            or_(Answer.rating <= LOW_RATING, Answer.valence < 0, Answer.nps <= DETRACTOR),
        )
        .group_by(Answer.stage)
    )
    return {stage: int(n) for stage, n in (await session.execute(statement)).all()}


async def _choices(
    session: AsyncSession, survey_id: str, bounds: tuple[datetime, datetime], segment: str | None
) -> dict[tuple[str, str], int]:
    """(question id, option id) → answers."""
    statement = (
        select(Answer.question_id, Answer.choice, func.count())
        .where(*_where(survey_id, *bounds, segment), Answer.choice.is_not(None))
        .group_by(Answer.question_id, Answer.choice)
    )
    rows = (await session.execute(statement)).all()
    return {(q, c): int(n) for q, c, n in rows if c is not None}


# -- reading -----------------------------------------------------------------------------


def _questions(survey: Survey) -> dict[str, Question]:
    return {q.id: q for wave in survey.waves for q in wave.questions}


async def _read_stage(
    session: AsyncSession,
    survey: Survey,
    compiled: Matchers,
    stage: str,
    bounds: tuple[datetime, datetime],
    segment: str | None,
) -> list[Read]:
    questions = _questions(survey)
    result = []
    for journey, touchpoint, question_id, text, at, low in await _comments(
        session, survey.id, stage, bounds, segment
    ):
        question = questions.get(question_id)
        asked = question.comment_intent if question is not None else None
        found = find_themes(text, compiled)
        reading = read(text, asked, low, found)
        themes = found.of(reading.intent)
        result.append(
            Read(journey, touchpoint, text, at, reading.intent, reading.pain, low, themes)
        )
    return result


# -- figures -----------------------------------------------------------------------------


def _journeys(reads: Iterable[Read], theme: str) -> set[int]:
    return {r.journey for r in reads if theme in r.themes}


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
    reads: Sequence[Read],
    total: int,
    before: Sequence[Read] = (),
    before_total: int = 0,
) -> tuple[ThemeFigure, ...]:
    result = []
    for theme in survey.themes:
        journeys = _journeys(reads, theme.id)
        if not journeys:
            continue
        share = len(journeys) / total if total else None
        earlier = len(_journeys(before, theme.id)) / before_total if before_total else None
        change = None if share is None or earlier is None else share - earlier
        quotes = _quotes([r for r in reads if theme.id in r.themes])
        label = survey.text(theme.label, locale)
        result.append(ThemeFigure(theme.id, label, len(journeys), share, change, quotes))
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


def _terms_of(text: str) -> set[tuple[str, str]]:
    """(key, surface form) of the comment's content words and adjacent pairs of them."""
    content = [
        w for w in words(text)
        if w.content and w.text not in STOPWORDS and w.text not in NEGATORS
        and w.text not in NOTHING and len(w.text) >= 3 and not w.text.isdigit()
    ]  # fmt: skip
    terms = {(w.stem, w.text) for w in content}
    pairs = itertools.pairwise(content)
    terms |= {(f"{a.stem} {b.stem}", f"{a.text} {b.text}") for a, b in pairs}
    return terms


def uncovered(
    stage_reads: Sequence[Read], other_reads: Sequence[Read], limit: int = TERMS
) -> tuple[Term, ...]:
    """The words and phrases that recur among the stage's complaints no theme covers and
    are distinctive for the stage: more frequent there than in the other stages'
    comments (smoothed log-odds), said by at least two customers."""
    lonely = [r for r in stage_reads if r.pain and not r.themes]
    here: dict[str, set[int]] = defaultdict(set)
    forms: dict[str, Counter[str]] = defaultdict(Counter)
    for r in lonely:
        for key, form in _terms_of(r.text):
            here[key].add(r.journey)
            forms[key][form] += 1
    elsewhere: Counter[str] = Counter()
    for r in other_reads:
        elsewhere.update({key for key, _ in _terms_of(r.text)})
    n_here, n_else = max(1, len(lonely)), max(1, len(other_reads))
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
    reads: Sequence[Read],
    others: Sequence[Read],
    unhappy_low: int,
    before: Sequence[Read],
    before_unhappy_low: int,
    choices: tuple[ChoiceQuestion, ...],
) -> StageVoice:
    pain = [r for r in reads if r.pain]
    pain_before = [r for r in before if r.pain]
    unhappy = unhappy_low + len({r.journey for r in pain if not r.low})
    unhappy_before = before_unhappy_low + len({r.journey for r in pain_before if not r.low})
    touchpoints = {
        tp: _figures(survey, locale, [r for r in pain if r.touchpoint == tp], unhappy)
        for tp in sorted({r.touchpoint for r in pain if r.touchpoint})
    }
    praise = [r for r in reads if r.intent is Intent.PRAISE]
    ideas = [r for r in reads if r.intent is Intent.SUGGESTION]
    commenters = len({r.journey for r in reads})
    return StageVoice(
        unhappy=unhappy,
        pain=_figures(survey, locale, pain, unhappy, pain_before, unhappy_before),
        touchpoints={tp: figures for tp, figures in touchpoints.items() if figures},
        pain_quotes=_quotes([r for r in pain if not r.themes]),
        uncovered=uncovered(reads, others),
        praise=_figures(survey, locale, praise, commenters),
        praise_quotes=_quotes(praise),
        suggestions=_figures(survey, locale, ideas, commenters),
        suggestion_quotes=_quotes(ideas),
        choices=choices,
    )


async def build_voices(
    session: AsyncSession,
    survey: Survey,
    period: Period,
    segment: str | None = None,
    locale: str | None = None,
) -> Voices:
    """Every stage's voice lanes for `period`, with the theme shares' change against the
    BASELINE periods before it."""
    locale = locale or survey.default_locale
    compiled = matchers(survey.themes)
    now, before = period.bounds(), _baseline(period)
    unhappy = await _unhappy(session, survey.id, now, segment)
    unhappy_before = await _unhappy(session, survey.id, before, segment)
    counts = await _choices(session, survey.id, now, segment)
    reads = {
        s.id: await _read_stage(session, survey, compiled, s.id, now, segment)
        for s in survey.stages
    }
    stages = {}
    for stage in survey.stages:
        earlier = await _read_stage(session, survey, compiled, stage.id, before, segment)
        others = [r for ident, rs in reads.items() if ident != stage.id for r in rs]
        voice = _voice(
            survey, locale, reads[stage.id], others, unhappy.get(stage.id, 0), earlier,
            unhappy_before.get(stage.id, 0), _choice_lane(survey, stage.id, counts, locale),
        )  # fmt: skip
        stages[stage.id] = dataclasses.replace(
            voice,
            doing=survey.text(stage.doing, locale) if stage.doing else None,
            thinking=survey.text(stage.thinking, locale) if stage.thinking else None,
        )
    return Voices(stages)


def _baseline(period: Period) -> tuple[datetime, datetime]:
    start, _ = period.bounds()
    return start - timedelta(days=BASELINE * period.days), start


async def uncovered_terms(
    session: AsyncSession, survey: Survey, period: Period, segment: str | None = None
) -> dict[str, tuple[Term, ...]]:
    """stage id → the recurring words and phrases of its complaints no theme covers."""
    voices = await build_voices(session, survey, period, segment)
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
