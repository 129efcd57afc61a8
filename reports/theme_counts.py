"""How many customers name each theme, per stage and touchpoint and as pain, praise or a
suggestion — counted in the database over every comment of a period, from the comments'
stored readings (`comment_readings`), so the counts do not depend on how many comments
the report reads for its quotes.

A comment's intent and whether it is pain follow `surveys.themes.decide`, written here as
SQL: its question's intent, whether the same wave answered the stage low, and what its
words said. `counts_of` gives the same counts from comments read in Python (the tests
hold the two to each other, and the report falls back to it when the database would not
keep the readings). The theme rollup (reports.theme_rollup) counts the days still open
with it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, case, exists, false, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from reports.aggregate import LOW_RATING
from reports.cells import NPS_DETRACTOR
from reports.days import in_runs
from storage.models import Answer, CommentReading
from surveys.model import Intent, Survey


@dataclass
class StageCounts:
    """Customers (journeys) per theme in one stage; each counted once however many of
    their comments name it."""

    pain: dict[str, int] = field(default_factory=dict)
    touchpoints: dict[str, dict[str, int]] = field(default_factory=dict)
    praise: dict[str, int] = field(default_factory=dict)
    suggestions: dict[str, int] = field(default_factory=dict)
    complained: int = 0  # customers with a pain comment though the wave was not low
    commenters: int = 0  # customers who wrote anything


class Comment(Protocol):
    """What counts_of needs of a comment read in Python (reports.themes.Read)."""

    @property
    def journey(self) -> int: ...
    @property
    def touchpoint(self) -> str | None: ...
    @property
    def intent(self) -> Intent | None: ...
    @property
    def pain(self) -> bool: ...
    @property
    def low(self) -> bool: ...
    @property
    def themes(self) -> tuple[str, ...]: ...


def counts_of(comments: Iterable[Comment], themes: Sequence[str]) -> StageCounts:
    """The counts of one stage from comments in hand."""
    pain: dict[str, set[int]] = defaultdict(set)
    points: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    praise: dict[str, set[int]] = defaultdict(set)
    ideas: dict[str, set[int]] = defaultdict(set)
    complained: set[int] = set()
    commenters: set[int] = set()
    for c in comments:
        commenters.add(c.journey)
        if c.pain and not c.low:
            complained.add(c.journey)
        for theme in c.themes:
            if c.pain:
                pain[theme].add(c.journey)
                if c.touchpoint:
                    points[c.touchpoint][theme].add(c.journey)
            if c.intent is Intent.PRAISE:
                praise[theme].add(c.journey)
            if c.intent is Intent.SUGGESTION:
                ideas[theme].add(c.journey)

    def sizes(found: dict[str, set[int]]) -> dict[str, int]:
        return {t: len(found[t]) for t in themes if found.get(t)}

    return StageCounts(
        sizes(pain), {tp: sizes(by) for tp, by in points.items() if sizes(by)},
        sizes(praise), sizes(ideas), len(complained), len(commenters),
    )  # fmt: skip


Days = Sequence[tuple[date, date]]


def window(
    survey_id: str, bounds: tuple[datetime, datetime], days: Days | None = None
) -> list[ColumnElement[bool]]:
    """The comments of [bounds), or of these ranges of days when given."""
    when = (
        [in_runs(Answer.day, days)]
        if days is not None
        else [Answer.answered_at >= bounds[0], Answer.answered_at < bounds[1]]
    )
    return [
        Answer.survey_id == survey_id,
        *when,
        Answer.comment.is_not(None),
        Answer.comment != "",
    ]


# -- counting in the database ------------------------------------------------------------


def _questions(survey: Survey, intent: Intent) -> list[str]:
    return sorted(q.id for w in survey.waves for q in w.questions if q.comment_intent is intent)


def _naming(column: Any, theme: str) -> ColumnElement[bool]:
    """The space-separated list `column` holds the theme id."""
    padded = literal(" ") + column + literal(" ")
    result: ColumnElement[bool] = padded.contains(f" {theme} ", autoescape=True)
    return result


def _in(column: Any, ids: Collection[str]) -> ColumnElement[bool]:
    return column.in_(sorted(ids)) if ids else false()


def _comments(
    survey: Survey,
    bounds: tuple[datetime, datetime],
    segment: str | None,
    version: str,
    themed: bool,
    days: Days | None = None,
) -> Any:
    """The window's comments with their readings and `low` (the same wave answered the
    stage low); `themed`: only those naming (or denying) a theme."""
    same = aliased(Answer)
    low_answer = or_(same.rating <= LOW_RATING, same.valence < 0, same.nps <= NPS_DETRACTOR)
    low = exists().where(
        same.dispatch_id == Answer.dispatch_id, same.stage == Answer.stage, low_answer
    )
    kept = CommentReading
    conditions = window(survey.id, bounds, days)
    if segment is not None:
        conditions.append(Answer.segment == segment)
    if themed:
        conditions.append(or_(kept.themes != "", kept.denied != ""))
    return (
        select(
            Answer.order_id.label("journey"), Answer.stage.label("stage"),
            Answer.touchpoint.label("touchpoint"), Answer.question_id.label("question"),
            case((low, 1), else_=0).label("low"), kept.themes, kept.denied, kept.said,
            kept.says_nothing,
        )
        .join(kept, and_(kept.answer_id == Answer.id, kept.version == version))
        .where(*conditions)
        .subquery()
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Roles:
    """surveys.themes.decide over a comments subquery: when a comment is pain, praise or
    a suggestion."""

    pain: ColumnElement[bool]
    praise: ColumnElement[bool]
    idea: ColumnElement[bool]
    complained: ColumnElement[bool]  # pain though the wave was not low

    @classmethod
    def of(cls, c: Any, survey: Survey) -> _Roles:
        is_low = c.low == 1
        said_pain, said_idea = c.said == Intent.PAIN.value, c.said == Intent.SUGGESTION.value
        asked = {i: _in(c.question, _questions(survey, i)) for i in Intent}
        open_question = ~or_(*asked.values())
        speaks = c.says_nothing.is_(False)
        open_pain = or_(said_pain, and_(c.said.is_(None), is_low), and_(is_low, said_idea))
        pain = and_(speaks, or_(
            asked[Intent.PAIN], and_(asked[Intent.SUGGESTION], is_low),
            and_(open_question, open_pain),
        ))  # fmt: skip
        praise = and_(speaks, or_(
            asked[Intent.PRAISE], and_(open_question, c.said == Intent.PRAISE.value),
        ))  # fmt: skip
        idea = and_(speaks, or_(
            asked[Intent.SUGGESTION], and_(asked[Intent.PAIN], said_idea),
            and_(open_question, said_idea),
        ))  # fmt: skip
        return cls(pain, praise, idea, and_(pain, ~is_low))


def _flag(condition: ColumnElement[bool], name: str) -> Any:
    """1 when any of the journey's comments (grouped) meets the condition."""
    return func.max(case((condition, 1), else_=0)).label(name)


async def count_themes(
    session: AsyncSession,
    survey: Survey,
    bounds: tuple[datetime, datetime],
    segment: str | None,
    version: str,
    days: Days | None = None,
) -> dict[str, StageCounts]:
    """stage → its counts over every comment of the window (or of `days`, ranges of UTC
    days) with a reading of `version`.

    Each count is of journeys: the comments are first grouped per (stage, journey) into
    flags, then the flags summed per stage — one grouping, not one DISTINCT per figure.
    Theme flags are taken over the comments that name a theme only."""
    themes = [t.id for t in survey.themes]
    every = _comments(survey, bounds, segment, version, False, days)
    roles = _Roles.of(every.c, survey)
    per_journey = (
        select(every.c.stage, _flag(roles.complained, "complained"))
        .group_by(every.c.stage, every.c.journey)
        .subquery()
    )
    result: dict[str, StageCounts] = {}
    totals = select(
        per_journey.c.stage, func.sum(per_journey.c.complained), func.count()
    ).group_by(per_journey.c.stage)
    for stage, complained, commenters in (await session.execute(totals)).all():
        result[str(stage)] = StageCounts(complained=int(complained or 0), commenters=commenters)
    if not themes:
        return result
    named = _comments(survey, bounds, segment, version, True, days)
    c, roles = named.c, _Roles.of(named.c, survey)
    kinds = {"pain": roles.pain, "praise": roles.praise, "idea": roles.idea}
    flags = [
        _flag(and_(role, _naming(c.themes, t) if kind != "praise" else or_(
            _naming(c.themes, t), _naming(c.denied, t)
        )), f"{kind}_{i}")
        for kind, role in kinds.items() for i, t in enumerate(themes)
    ]  # fmt: skip
    grouped = select(c.stage, *flags).group_by(c.stage, c.journey).subquery()
    sums = [func.sum(column) for column in list(grouped.c)[1:]]
    n = len(themes)
    rows = await session.execute(select(grouped.c.stage, *sums).group_by(grouped.c.stage))
    for stage, *values in rows.all():
        counts = result.setdefault(str(stage), StageCounts())
        counts.pain = _nonzero(themes, values[:n])
        counts.praise = _nonzero(themes, values[n : 2 * n])
        counts.suggestions = _nonzero(themes, values[2 * n :])
    points = [
        _flag(and_(roles.pain, _naming(c.themes, t)), f"t_{i}") for i, t in enumerate(themes)
    ]
    grouped = (
        select(c.stage, c.touchpoint, *points)
        .where(c.touchpoint.is_not(None))
        .group_by(c.stage, c.touchpoint, c.journey)
        .subquery()
    )
    sums = [func.sum(column) for column in list(grouped.c)[2:]]
    rows = await session.execute(
        select(grouped.c.stage, grouped.c.touchpoint, *sums).group_by(
            grouped.c.stage, grouped.c.touchpoint
        )
    )
    for stage, touchpoint, *values in rows.all():
        found = _nonzero(themes, values)
        if found and str(stage) in result:
            result[str(stage)].touchpoints[str(touchpoint)] = found
    return result


def _nonzero(themes: Sequence[str], values: Sequence[Any]) -> dict[str, int]:
    return {t: int(v) for t, v in zip(themes, values, strict=True) if v}
