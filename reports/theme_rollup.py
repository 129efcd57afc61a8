"""The theme counts' daily rollup: per closed day, segment, stage, touchpoint, role and
theme, the customers whose comments name it — built by the rollup job from the stored
comment readings (`comment_readings`; no morphology here), read by the report for the
days it holds, with the days still open (or stale) read live.

A count of a period is of distinct journeys: a customer who names the queue on two days
of the period counts once. A journey whose comments in a stage all fall on one day (and
segment) — nearly all of them: a wave is answered in minutes — is counted in that day's
`customers`; the others, whose comments in the stage span days, are listed per day in
`theme_spread` and counted once per period by their order id, together with the live
days' journeys. The split stays true as answers arrive: a new answer makes every built
day holding a comment of the same journey and stage stale (`mark_stale`), so a journey
counted on one day never appears on another without that day being read again.

A day is built only when every one of its comments has a reading of the survey's
current themes (`version`, their fingerprint); until a report has read them it is read
live, and a day built for other themes is read live too. /forget marks the days of the
forgotten comments stale (storage.customers.erase). Quotes: each row keeps the day's best
few candidates (answer ids), the report picks among the newest of them and reads only
those texts.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from reports.aggregate import LOW_RATING
from reports.cells import NPS_DETRACTOR
from reports.days import (
    FirstDay,
    closed_before,
    first_day,
    gaps,
    in_bound_runs,
    in_ids,
    in_runs,
    run_values,
    runs,
)
from reports.theme_counts import StageCounts, count_themes
from storage.models import (
    Answer,
    CommentReading,
    RollupDay,
    ThemeDay,
    ThemeRollup,
    ThemeSpread,
)
from surveys.model import Intent, Survey
from surveys.readings import TextReading, decide, fingerprint

QUOTE_CHARS = 160
CANDIDATES = 3  # quote candidates kept per row, of a readable length and not
QUOTE_DAYS = 3  # the newest rows with candidates the report looks at, per key
QUOTE_LIVE_DAYS = 7  # the newest days not rolled up whose comments give quotes
LIVE_DAYS = 7  # up to this many days not rolled up are counted in Python, else in SQL

PAIN, PRAISE, IDEA, COMPLAINED, COMMENTED = "pain", "praise", "idea", "complained", "commented"
# (stage, touchpoint or '', role, theme or ''): '' as theme is the pain no theme covers,
# every praise, every idea.
Key = tuple[str, str, str, str]

_ROLLUPS = cast(Table, ThemeRollup.__table__)
_SPREAD = cast(Table, ThemeSpread.__table__)


class Seen(NamedTuple):
    """A comment with its stored reading (a named tuple: a report makes one per comment
    of the open day, and a frozen dataclass's are slower to make)."""

    answer: int
    journey: int
    segment: str
    day: date
    stage: str
    touchpoint: str
    question: str
    low: bool
    reading: TextReading
    length: int
    at: datetime


def readable(length: int) -> bool:
    return 12 <= length <= QUOTE_CHARS


def asked_intents(survey: Survey) -> dict[str, Intent | None]:
    return {q.id: q.comment_intent for w in survey.waves for q in w.questions}


def keys_of(seen: Seen, asked: Intent | None) -> list[Key]:
    """Every count (and quote lane) the comment belongs to, as reports.theme_counts
    counts it."""
    decided = decide(seen.reading, asked, seen.low)
    themes = seen.reading.found.of(decided.intent)
    stage, point = seen.stage, seen.touchpoint
    keys: list[Key] = [(stage, "", COMMENTED, "")]
    if decided.pain:
        if not seen.low:
            keys.append((stage, "", COMPLAINED, ""))
        keys += [(stage, "", PAIN, t) for t in themes] or [(stage, "", PAIN, "")]
        if point:
            keys += [(stage, point, PAIN, t) for t in themes]
    for intent, role in ((Intent.PRAISE, PRAISE), (Intent.SUGGESTION, IDEA)):
        if decided.intent is intent:
            keys += [(stage, "", role, t) for t in themes] + [(stage, "", role, "")]
    return keys


@dataclass
class Tally:
    """Comments gathered per (segment, key): their journeys, and per day the best quote
    candidates (readable first, newest first)."""

    asked: Mapping[str, Intent | None]
    journeys: dict[tuple[str, Key], set[int]] = field(default_factory=lambda: defaultdict(set))
    found: dict[tuple[date, str, Key], list[tuple[bool, float, int]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def add(self, comments: Iterable[Seen]) -> None:
        # Most comments of a stage read alike (the same themes, or none): their keys are
        # worked out once per reading, question intent, lowness and place.
        keys: dict[tuple[Any, ...], list[Key]] = {}
        journeys, found, asked_of = self.journeys, self.found, self.asked
        for seen in comments:
            order = (not readable(seen.length), -seen.at.timestamp(), -seen.answer)
            asked = asked_of.get(seen.question)
            alike = (seen.reading, asked, seen.low, seen.stage, seen.touchpoint)
            counted = keys.get(alike)  # one hash of the reading, not two
            if counted is None:
                counted = keys[alike] = keys_of(seen, asked)
            segment, day = seen.segment, seen.day
            for key in counted:
                journeys[segment, key].add(seen.journey)
                found[day, segment, key].append(order)

    def by_key(self) -> dict[Key, set[int]]:
        """key → its journeys, of every segment."""
        result: dict[Key, set[int]] = defaultdict(set)
        for (_, key), found in self.journeys.items():
            result[key] |= found
        return result

    def candidates(self) -> dict[tuple[date, str, Key], tuple[list[int], list[int]]]:
        """(day, segment, key) → (readable, other) candidate answer ids, newest first."""
        result = {}
        for where, orders in self.found.items():
            best = sorted(orders)[:CANDIDATES]
            result[where] = (
                [-answer for unreadable, _, answer in best if not unreadable],
                [-answer for unreadable, _, answer in best if unreadable],
            )
        return result


@functools.cache
def _low_flag() -> Any:
    """1 when the same wave answered the comment's stage low, else 0. Built once: the
    comparisons on the aliased answers cost about a millisecond a report to make."""
    same = aliased(Answer)
    low_answer = or_(same.rating <= LOW_RATING, same.valence < 0, same.nps <= NPS_DETRACTOR)
    low = exists().where(
        same.dispatch_id == Answer.dispatch_id, same.stage == Answer.stage, low_answer
    )
    return case((low, 1), else_=0)


def _comments(
    survey_id: str, conditions: Sequence[ColumnElement[bool]], version: str
) -> Select[Any]:
    kept = CommentReading
    return (
        select(
            Answer.id, Answer.order_id, func.coalesce(Answer.segment, ""),
            type_coerce(Answer.day, String), Answer.stage, func.coalesce(Answer.touchpoint, ""),
            Answer.question_id, _low_flag(), kept.themes, kept.denied, kept.said,
            kept.says_nothing, func.length(Answer.comment),
            type_coerce(Answer.answered_at, String),
        )
        .join(kept, and_(kept.answer_id == Answer.id, kept.version == version))
        .where(
            Answer.survey_id == survey_id, Answer.comment.is_not(None), Answer.comment != "",
            *conditions,
        )
    )  # fmt: skip


async def seen_comments(
    session: AsyncSession,
    survey_id: str,
    conditions: Sequence[ColumnElement[bool]],
    version: str,
) -> list[Seen]:
    # Core rows: the ORM's row handling costs more than the rest of a row's reading.
    connection = await session.connection()
    rows = await connection.execute(_comments(survey_id, conditions, version))
    readings: dict[tuple[str, str, str | None, bool], TextReading] = {}
    # The day and instant as the driver gives them (SQLite: text): SQLAlchemy's
    # conversion of each row's costs more than a date made once per day and fromisoformat.
    days: dict[Any, date] = {}
    return [
        Seen(
            int(answer), int(journey), str(segment), days.get(day) or _new_day(days, day),
            str(stage), str(point), str(question), bool(low),
            _reading(readings, themes, denied, said, bool(nothing)), int(length or 0),
            _instant(at),
        )
        for answer, journey, segment, day, stage, point, question, low, themes, denied, said,
        nothing, length, at in rows.all()
    ]  # fmt: skip


def _reading(
    made: dict[tuple[str, str, str | None, bool], TextReading],
    themes: str,
    denied: str,
    said: str | None,
    nothing: bool,
) -> TextReading:
    """The stored reading, made once per distinct one: most comments share theirs."""
    stored = (themes, denied, said, nothing)
    if stored not in made:
        intent = Intent(said) if said else None
        made[stored] = TextReading(
            tuple(themes.split()), tuple(denied.split()), intent, nothing, ()
        )
    return made[stored]


def _new_day(days: dict[Any, date], value: Any) -> date:
    days[value] = _day(value)
    return days[value]


def _instant(value: Any) -> datetime:
    """An answer's time read uncoerced, as storage.types.UTCDateTime would give it."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


# -- building a day ----------------------------------------------------------------------


def _unread(survey_id: str, day: date, version: str) -> Any:
    kept = CommentReading
    current = exists().where(kept.answer_id == Answer.id, kept.version == version)
    return exists().where(
        Answer.survey_id == survey_id, Answer.day == day, Answer.comment.is_not(None),
        Answer.comment != "", ~current,
    )  # fmt: skip


async def _spread(session: AsyncSession, survey_id: str, day: date) -> set[tuple[int, str]]:
    """(journey, stage) of the day's comments with comments in the same stage on another
    day or in another segment too."""
    other = aliased(Answer)
    elsewhere = exists().where(
        other.order_id == Answer.order_id, other.stage == Answer.stage,
        other.survey_id == survey_id, other.comment.is_not(None), other.comment != "",
        or_(
            other.day != Answer.day,
            func.coalesce(other.segment, "") != func.coalesce(Answer.segment, ""),
        ),
    )  # fmt: skip
    rows = await session.execute(
        select(Answer.order_id, Answer.stage)
        .where(
            Answer.survey_id == survey_id, Answer.day == day, Answer.comment.is_not(None),
            Answer.comment != "", elsewhere,
        )
        .distinct()
    )  # fmt: skip
    return {(int(journey), str(stage)) for journey, stage in rows.all()}


async def build_day(
    session: AsyncSession, survey: Survey, day: date, version: str, now: datetime
) -> bool:
    """Replace the day's theme rows in the caller's transaction; False (nothing changed)
    while some comment of the day has no reading of `version` yet."""
    if await session.scalar(select(_unread(survey.id, day, version))):
        return False
    for table in (ThemeRollup, ThemeSpread):
        await session.execute(delete(table).where(table.survey_id == survey.id, table.day == day))
    tally = Tally(asked_intents(survey))
    tally.add(await seen_comments(session, survey.id, [Answer.day == day], version))
    spread = await _spread(session, survey.id, day)
    candidates = tally.candidates()
    rows, spread_rows = [], []
    for (segment, key), journeys in tally.journeys.items():
        stage, point, role, theme = key
        single = [j for j in journeys if (j, stage) not in spread]
        good, other = candidates[day, segment, key]
        names = {"survey_id": survey.id, "day": day, "segment": segment, "stage": stage,
                 "touchpoint": point, "role": role, "theme": theme}  # fmt: skip
        rows.append({**names, "customers": len(single), "quotes": _ids(good),
                     "others": _ids(other)})  # fmt: skip
        spread_rows += [{**names, "order_id": j} for j in journeys if (j, stage) in spread]
    if rows:
        await session.execute(insert(_ROLLUPS), rows)
    if spread_rows:
        await session.execute(insert(_SPREAD), spread_rows)
    changed = await session.execute(
        update(ThemeDay)
        .where(ThemeDay.survey_id == survey.id, ThemeDay.day == day)
        .values(version=version, built_at=now)
    )
    if cast(Any, changed).rowcount == 0:
        session.add(ThemeDay(survey_id=survey.id, day=day, version=version, built_at=now))
    return True


def _ids(answers: Sequence[int]) -> str:
    return " ".join(str(a) for a in answers)


async def mark_stale(
    session: AsyncSession, survey_id: str, since_id: int, upto_id: int, days: Collection[date]
) -> None:
    """Built days that answers in (since_id, upto_id] change: their own days, and every
    day with a comment of the same journey and stage (the journey may now span days, or
    its wave turned low). Found from the new answers on `ix_answers_order_stage`."""
    new, theirs = aliased(Answer), aliased(Answer)
    touched = (
        select(theirs.day)
        .join(new, and_(new.order_id == theirs.order_id, new.stage == theirs.stage))
        .where(
            new.id > since_id, new.id <= upto_id, new.survey_id == survey_id,
            theirs.comment.is_not(None),
        )
    )  # fmt: skip
    await session.execute(
        update(ThemeDay)
        .where(
            ThemeDay.survey_id == survey_id,
            or_(ThemeDay.day.in_(touched), ThemeDay.day.in_(sorted(days))),
        )
        .values(built_at=None)
    )


async def refresh_themes(
    sessions: async_sessionmaker[AsyncSession], survey: Survey, now: datetime
) -> list[date]:
    """Build each closed day the answer rollup holds whose theme rows are missing, stale
    or of other themes, and whose comments are all read; one day per transaction."""
    version = fingerprint(survey.themes)
    current = exists().where(
        ThemeDay.survey_id == survey.id, ThemeDay.day == RollupDay.day,
        ThemeDay.version == version, ThemeDay.built_at.is_not(None),
    )  # fmt: skip
    async with sessions() as session:
        days = list(
            await session.scalars(
                select(RollupDay.day)
                .where(
                    RollupDay.survey_id == survey.id, RollupDay.built_at.is_not(None),
                    RollupDay.day < closed_before(now), ~current,
                )
                .order_by(RollupDay.day)
            )
        )  # fmt: skip
    built = []
    for day in days:
        async with sessions.begin() as session:
            if await build_day(session, survey, _day(day), version, now):
                built.append(_day(day))
    return built


# -- reading a period --------------------------------------------------------------------


async def built_days(
    session: AsyncSession, survey_id: str, start: date, end: date, version: str
) -> list[date]:
    """The days of [start, end) the theme rollup holds for `version`, not stale."""
    connection = await session.connection()  # Core, the statement kept: see reports.days
    values = {"survey_id": survey_id, "start": start, "end": end, "version": version}
    rows = (await connection.execute(_built_days_statement(), values)).scalars()
    return [_day(day) for day in rows]


@functools.cache
def _built_days_statement() -> Select[Any]:
    day = ThemeDay.day
    return (
        select(day)
        .where(
            ThemeDay.survey_id == bindparam("survey_id"),
            day >= bindparam("start", type_=day.type), day < bindparam("end", type_=day.type),
            ThemeDay.version == bindparam("version"), ThemeDay.built_at.is_not(None),
        )
        .order_by(day)
    )  # fmt: skip


def live_ranges(start: date, end: date, built: Sequence[date]) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end) not rolled up, as UTC instants."""
    return [_instants(first, after) for first, after in gaps(start, end, built)]


def _instants(first: date, after: date) -> tuple[datetime, datetime]:
    """The days [first, after) as UTC instants."""
    return datetime.combine(first, time(), tzinfo=UTC), datetime.combine(after, time(), tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class PeriodThemes:
    customers: dict[Key, int]  # distinct journeys per key
    quotes: dict[Key, list[int]]  # candidate answer ids per key, best first


async def period_themes(
    session: AsyncSession,
    survey: Survey,
    bounds: tuple[datetime, datetime],
    segment: str | None,
    version: str,
    built: Sequence[date],
    quotes: bool = True,
    first: FirstDay | None = None,
) -> PeriodThemes:
    """The period's customers per key: the rolled-up days' single-day journeys, plus
    the distinct journeys of the rolled-up days' spread lists and of the live days.
    With `quotes`, the quote candidates of the rolled-up days and of the newest live
    ones.

    A long live stretch (before the first rollup, after a change of themes) is counted
    in the database (reports.theme_counts), and only the spread journeys are looked up
    in it; a short one, its comments read here. `first`: the survey's first answer day,
    when the caller has read it."""
    start, end = (moment.date() for moment in bounds)
    built = [day for day in built if start <= day < end]
    live = await _live(session, survey.id, start, end, built, first)
    customers: dict[Key, int] = defaultdict(int)
    ranked: dict[Key, list[tuple[int, int, int, int]]] = defaultdict(list)
    if built:
        await _rolled(session, survey.id, built, segment, quotes, customers, ranked)
    within = [in_runs(Answer.day, live)]
    if segment is not None:
        within.append(Answer.segment == segment)
    if live and sum((after - first).days for first, after in live) <= LIVE_DAYS:
        # A few days (today's, a stale one): their comments counted here, journey by
        # journey, so that a spread journey on them is one already counted.
        tally = Tally(asked_intents(survey))
        # The same days as instants too (an answer's day is its answered_at's UTC date):
        # SQLite then walks only the comments, on ix_answers_comments, not every answer
        # of the days on the report index (4.5 against 9 ms for a day of 1M answers).
        instants = in_runs(Answer.answered_at, [_instants(*days) for days in live])
        tally.add(await seen_comments(session, survey.id, [*within, instants], version))
        journeys = tally.by_key()
        for key, found in journeys.items():
            customers[key] += len(found)
        await _uncount_spread(session, survey.id, built, segment, journeys, customers)
        if quotes:
            for (day, _, key), (good, other) in tally.candidates().items():
                _rank(ranked[key], day, good, other)
    elif live:  # many (nothing rolled up yet, other themes): counted in the database
        await _counted(session, survey, bounds, segment, version, live, within, customers, built)
        if quotes:
            for key, day, good, other in await _live_quotes(
                session, survey, live, within, version
            ):
                _rank(ranked[key], day, good, other)
    best = {key: [answer for *_, answer in sorted(found)] for key, found in ranked.items()}
    return PeriodThemes(dict(customers), best)


async def _counted(
    session: AsyncSession,
    survey: Survey,
    bounds: tuple[datetime, datetime],
    segment: str | None,
    version: str,
    live: Sequence[tuple[date, date]],
    within: Sequence[ColumnElement[bool]],
    customers: dict[Key, int],
    built: Sequence[date],
) -> None:
    """A long live stretch counted in the database, added to `customers`, less the
    rolled-up days' spread journeys it holds (counted there already)."""
    counted = await count_themes(session, survey, bounds, segment, version, live)
    for key, n in _keyed(counted):
        customers[key] += n
    if built:
        spread = select(ThemeSpread.order_id).where(*_kept(ThemeSpread, survey.id, built, segment))
        tally = Tally(asked_intents(survey))
        conditions = [*within, Answer.order_id.in_(spread)]
        tally.add(await seen_comments(session, survey.id, conditions, version))
        await _uncount_spread(session, survey.id, built, segment, tally.by_key(), customers)


async def _uncount_spread(
    session: AsyncSession,
    survey_id: str,
    built: Sequence[date],
    segment: str | None,
    journeys: Mapping[Key, set[int]],
    customers: dict[Key, int],
) -> None:
    """Takes out of `customers` the live `journeys` that the rolled-up days list as
    spread under the same key: `_rolled` counted those once already. Only the spread
    rows of these journeys are read (most of a period's are of other journeys)."""
    wanted = set().union(*journeys.values()) if built else set()
    if not wanted:
        return
    t = ThemeSpread
    connection = await session.connection()  # Core: no ORM handling of the call
    rows = await connection.execute(
        select(t.stage, t.touchpoint, t.role, t.theme, t.order_id)
        .where(*_kept(t, survey_id, built, segment), in_ids(t.order_id, sorted(wanted)))
        .distinct()
    )
    for stage, point, role, theme, journey in rows.all():
        if int(journey) in journeys.get((stage, point, role, theme), ()):
            customers[stage, point, role, theme] -= 1


@functools.lru_cache(maxsize=64)
def _rolled_queries(ranges: int, by_segment: bool) -> tuple[Select[*tuple[Any, ...]], ...]:
    """(customers summed, spread journeys counted) over the rolled-up days: built once per
    shape, bound per call (`survey_id`, `segment`, run_values) — a report asks them for
    its period and the one before."""

    def kept(table: Any) -> list[Any]:
        conditions = [table.survey_id == bindparam("survey_id"), in_bound_runs(table.day, ranges)]
        if by_segment:
            conditions.append(table.segment == bindparam("segment"))
        return conditions

    columns = (ThemeRollup.stage, ThemeRollup.touchpoint, ThemeRollup.role, ThemeRollup.theme)
    summed = select(*columns, func.sum(ThemeRollup.customers))
    # Counted in the database: listing the spread journeys would hand thousands of rows
    # to Python to be deduplicated there.
    t = ThemeSpread
    spread = (t.stage, t.touchpoint, t.role, t.theme)
    distinct = select(*spread, func.count(t.order_id.distinct()))
    return (
        summed.where(*kept(ThemeRollup)).group_by(*columns),
        distinct.where(*kept(t)).group_by(*spread),
    )


async def _rolled(
    session: AsyncSession,
    survey_id: str,
    built: Sequence[date],
    segment: str | None,
    quotes: bool,
    customers: dict[Key, int],
    ranked: dict[Key, list[tuple[int, int, int, int]]],
) -> None:
    """The rolled-up days' customers — single-day ones summed, spread journeys counted
    once — and quote candidates, added to the caller's."""
    ranges = runs(built)
    summed, distinct = _rolled_queries(len(ranges), segment is not None)
    values = {"survey_id": survey_id, "segment": segment, **run_values(ranges)}
    connection = await session.connection()  # Core: no ORM handling of the call
    rows = await connection.execute(summed, values)
    keys: set[Key] = set()
    for stage, point, role, theme, n in rows.all():
        customers[stage, point, role, theme] += int(n or 0)
        keys.add((stage, point, role, theme))
    for stage, point, role, theme, n in (await connection.execute(distinct, values)).all():
        customers[stage, point, role, theme] += int(n)
    if quotes:
        for key, day, good, other in await _stored_quotes(
            session, survey_id, built, segment, keys
        ):
            _rank(ranked[key], day, good, other)


async def _live_quotes(
    session: AsyncSession,
    survey: Survey,
    live: Sequence[tuple[date, date]],
    within: Sequence[ColumnElement[bool]],
    version: str,
) -> list[tuple[Key, date, list[int], list[int]]]:
    """Quote candidates of the newest QUOTE_LIVE_DAYS days not rolled up."""
    newest = runs(sorted(d for a, b in live for d in _dates(a, b))[-QUOTE_LIVE_DAYS:])
    tally = Tally(asked_intents(survey))
    conditions = [in_runs(Answer.day, newest), *within[1:]]
    tally.add(await seen_comments(session, survey.id, conditions, version))
    return [(key, day, good, other) for (day, _, key), (good, other) in tally.candidates().items()]


async def _live(
    session: AsyncSession,
    survey_id: str,
    start: date,
    end: date,
    built: Sequence[date],
    known: FirstDay | None,
) -> list[tuple[date, date]]:
    """The ranges of [start, end) not rolled up, from the survey's first answer on (a
    baseline before the survey began has nothing to read)."""
    first = await first_day(session, survey_id, known)
    floor = max(start, first) if first is not None else end
    return gaps(floor, end, built) if floor < end else []


def _dates(first: date, after: date) -> list[date]:
    return [date.fromordinal(n) for n in range(first.toordinal(), after.toordinal())]


def _keyed(counted: Mapping[str, StageCounts]) -> Iterable[tuple[Key, int]]:
    """reports.theme_counts' counts as keyed customers."""
    for stage, counts in counted.items():
        yield (stage, "", COMMENTED, ""), counts.commenters
        yield (stage, "", COMPLAINED, ""), counts.complained
        for role, found in ((PAIN, counts.pain), (PRAISE, counts.praise),
                            (IDEA, counts.suggestions)):  # fmt: skip
            for theme, n in found.items():
                yield (stage, "", role, theme), n
        for point, themes in counts.touchpoints.items():
            for theme, n in themes.items():
                yield (stage, point, PAIN, theme), n


def _kept(table: Any, survey_id: str, built: Sequence[date], segment: str | None) -> list[Any]:
    conditions = [table.survey_id == survey_id, in_runs(table.day, runs(built))]
    if segment is not None:
        conditions.append(table.segment == segment)
    return conditions


def _rank(
    into: list[tuple[int, int, int, int]], day: date, good: Sequence[int], other: Sequence[int]
) -> None:
    """Readable candidates before the others, newer days first, a day's own order kept."""
    into += [(0, -day.toordinal(), i, answer) for i, answer in enumerate(good)]
    into += [(1, -day.toordinal(), i, answer) for i, answer in enumerate(other)]


async def _stored_quotes(
    session: AsyncSession,
    survey_id: str,
    built: Sequence[date],
    segment: str | None,
    keys: Collection[Key],
) -> list[tuple[Key, date, list[int], list[int]]]:
    """Per key, the newest QUOTE_DAYS rows with readable candidates and the newest with
    others. Sought among the newest QUOTE_DAYS days first: a window over every day of a
    long period costs more than the rest of the rollup's read, and most keys have their
    rows there; the days before are ranked only when some key of `keys` (those the
    period holds) has fewer."""
    t = ThemeRollup
    days = sorted(built)
    recent, before = days[-QUOTE_DAYS:], days[:-QUOTE_DAYS]
    result = []
    for column in (t.quotes, t.others):
        found = await _newest(session, column, _kept(t, survey_id, recent, segment))
        rows: Counter[Key] = Counter(key for key, *_ in found)
        if before and any(rows[key] < QUOTE_DAYS for key in keys):
            older = await _newest(session, column, _kept(t, survey_id, before, segment))
            found += [row for row in older if row[3] <= QUOTE_DAYS - rows[row[0]]]
        for key, day, ids, _ in found:
            answers = [int(a) for a in ids.split()]
            good, other = (answers, []) if column is t.quotes else ([], answers)
            result.append((key, day, good, other))
    return result


async def _newest(
    session: AsyncSession, column: Any, kept: Sequence[Any]
) -> list[tuple[Key, date, str, int]]:
    """The newest QUOTE_DAYS rows per key with candidates in `column`, each with its rank
    (a window over the rows: the rest are never read). Ties of a day are ranked by
    segment, so that a report picks the same rows whichever days it ranks at once."""
    t = ThemeRollup
    newest = func.row_number().over(
        partition_by=(t.stage, t.touchpoint, t.role, t.theme), order_by=(t.day.desc(), t.segment)
    )
    ranked = (
        select(t.stage, t.touchpoint, t.role, t.theme, t.day, column, newest.label("n"))
        .where(*kept, column != "")
        .subquery()
    )
    connection = await session.connection()  # Core: no ORM handling of the call
    rows = await connection.execute(select(ranked).where(ranked.c.n <= QUOTE_DAYS))
    return [
        ((stage, point, role, theme), _day(day), str(ids), int(n))
        for stage, point, role, theme, day, ids, n in rows.all()
    ]


async def texts(session: AsyncSession, answers: Iterable[int]) -> dict[int, str]:
    """The comments of these answers (a forgotten one is gone)."""
    wanted, result = sorted(set(answers)), {}
    connection = await session.connection()  # Core: no ORM handling of the call
    for i in range(0, len(wanted), 500):
        rows = await connection.execute(
            select(Answer.id, Answer.comment).where(
                in_ids(Answer.id, wanted[i : i + 500]), Answer.comment.is_not(None)
            )
        )
        result.update({int(answer): str(text) for answer, text in rows.all()})
    return result
