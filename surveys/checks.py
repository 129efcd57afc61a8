"""Cross-reference checks that pydantic's structural validation cannot express.

Each check yields `(location, message)`; a location is a path such as
`("waves", 0, "questions", 2, "stage")`, printed as `waves[0].questions[2].stage`.

`unsure` names objects (a question, a stage, a wave, or `()` for the survey itself)
whose values were invalid and have been replaced by placeholders so that the rest of the
file can still be checked: checks that depend on such an object are skipped, since their
findings would only echo the problem already reported.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

from surveys.conditions import Comparison, ConditionError, parse_condition
from surveys.model import Question, QuestionKind, Survey

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]

_NUMERIC_RANGE = {QuestionKind.RATING: (1, 5), QuestionKind.NPS: (0, 10)}
VALENCE_RANGE = (-2, 2)
MAX_OPTIONS = 12


def check_survey(survey: Survey, unsure: Collection[Loc] = ()) -> list[Problem]:
    unsure = frozenset(unsure)
    return [
        *_duplicates(survey),
        *_translations(survey, unsure),
        *_questions(survey, unsure),
        *_waves(survey, unsure),
        *_themes(survey, unsure),
    ]


def _a(kind: str) -> str:
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


def _dupes(ids: Sequence[str], loc: Loc, what: str) -> Iterator[Problem]:
    seen: Counter[str] = Counter()
    for index, ident in enumerate(ids):
        seen[ident] += 1
        if seen[ident] == 2:
            yield (*loc, index, "id"), f"duplicate {what} id {ident!r}"


def _duplicates(survey: Survey) -> Iterator[Problem]:
    yield from _dupes([s.id for s in survey.stages], ("stages",), "stage")
    for i, stage in enumerate(survey.stages):
        touchpoints = [t.id for t in stage.touchpoints]
        yield from _dupes(touchpoints, ("stages", i, "touchpoints"), "touchpoint")
    yield from _dupes([e.id for e in survey.emotions], ("emotions",), "emotion")
    yield from _dupes([w.id for w in survey.waves], ("waves",), "wave")
    yield from _dupes([t.id for t in survey.themes], ("themes",), "theme")
    seen: set[str] = set()
    for w, wave in enumerate(survey.waves):
        for q, question in enumerate(wave.questions):
            loc: Loc = ("waves", w, "questions", q)
            if question.id in seen:
                yield (*loc, "id"), f"duplicate question id {question.id!r}"
            seen.add(question.id)
            options = [o.id for o in question.options]
            yield from _dupes(options, (*loc, "options"), "option")


def _texts(survey: Survey) -> Iterator[tuple[Loc, dict[str, str]]]:
    if survey.business:
        yield ("business",), survey.business
    for i, emotion in enumerate(survey.emotions):
        yield ("emotions", i, "label"), emotion.label
    for i, stage in enumerate(survey.stages):
        yield ("stages", i, "name"), stage.name
        for key in ("description", "doing", "thinking"):
            if text := getattr(stage, key):
                yield ("stages", i, key), text
        for k, idea in enumerate(stage.ideas):
            yield ("stages", i, "ideas", k), idea
        for j, touchpoint in enumerate(stage.touchpoints):
            yield ("stages", i, "touchpoints", j, "name"), touchpoint.name
    for w, wave in enumerate(survey.waves):
        if wave.intro:
            yield ("waves", w, "intro"), wave.intro
        for q, question in enumerate(wave.questions):
            yield ("waves", w, "questions", q, "text"), question.text
            for o, option in enumerate(question.options):
                yield ("waves", w, "questions", q, "options", o, "label"), option.label
    for t, theme in enumerate(survey.themes):
        yield ("themes", t, "label"), theme.label


def _translations(survey: Survey, unsure: frozenset[Loc]) -> Iterator[Problem]:
    if ("title",) in unsure:
        return  # which locales the survey has is not known
    if () not in unsure and survey.default_locale not in survey.title:
        yield ("title",), f"no text for the default locale {survey.default_locale!r}"
    wanted = set(survey.title)
    for loc, text in _texts(survey):
        missing = sorted(wanted - set(text))
        if missing:
            yield loc, f"missing translation: {', '.join(missing)}"


@dataclass(frozen=True, slots=True)
class _Asked:
    question: Question
    loc: Loc


def _questions(survey: Survey, unsure: frozenset[Loc]) -> Iterator[Problem]:
    stages = {s.id: (s, ("stages", i)) for i, s in enumerate(survey.stages)}
    placed = {
        q.id: (w, wave.id, n)
        for w, wave in enumerate(survey.waves)
        for n, q in enumerate(wave.questions)
    }
    for w, wave in enumerate(survey.waves):
        earlier: dict[str, _Asked] = {}
        for q, question in enumerate(wave.questions):
            loc: Loc = ("waves", w, "questions", q)
            if loc not in unsure:
                found = stages.get(question.stage)
                if found is None:
                    yield (*loc, "stage"), f"unknown stage {question.stage!r}"
                elif (
                    question.touchpoint
                    and found[1] not in unsure
                    and question.touchpoint not in {t.id for t in found[0].touchpoints}
                ):
                    yield (
                        (*loc, "touchpoint"),
                        f"unknown touchpoint {question.touchpoint!r} in stage {found[0].id!r}",
                    )
                if found is not None and found[1] not in unsure:
                    yield from _option_touchpoints(survey, question, found[0].id, loc)
                yield from _options(survey, question, loc, unsure)
                if question.intent is not None and question.kind is not QuestionKind.TEXT:
                    yield (*loc, "intent"), "intent is only for text questions"
                if question.ask_if is not None:
                    where = (*loc, "ask_if")
                    yield from _condition(
                        question.ask_if, earlier, where, survey, unsure, placed, (w, q)
                    )
            earlier[question.id] = _Asked(question, loc)


def _option_touchpoints(
    survey: Survey, question: Question, stage_id: str, loc: Loc
) -> Iterator[Problem]:
    """An option's touchpoint must be one of its question's stage: the answer is stored
    under that stage."""
    owners = {t.id: s.id for s in survey.stages for t in s.touchpoints if s.id != stage_id}
    own = {t.id for s in survey.stages if s.id == stage_id for t in s.touchpoints}
    for o, option in enumerate(question.options):
        touchpoint = option.touchpoint
        if touchpoint is None or touchpoint in own:
            continue
        where = (*loc, "options", o, "touchpoint")
        if touchpoint in owners:
            yield (
                where,
                f"touchpoint {touchpoint!r} belongs to stage {owners[touchpoint]!r}, "
                f"not to the question's stage {stage_id!r}",
            )
        else:
            yield where, f"unknown touchpoint {touchpoint!r} in stage {stage_id!r}"


def _options(
    survey: Survey, question: Question, loc: Loc, unsure: frozenset[Loc]
) -> Iterator[Problem]:
    if question.kind is QuestionKind.CHOICE and len(question.options) < 2:
        yield (*loc, "options"), "a choice question needs at least two options"
    if question.kind is not QuestionKind.CHOICE and question.options:
        yield (*loc, "options"), f"options are only for choice questions, not {question.kind}"
    if question.kind is QuestionKind.CHOICE and len(question.options) > MAX_OPTIONS:
        yield (
            (*loc, "options"),
            f"at most {MAX_OPTIONS} options fit a keyboard a customer can read",
        )
    palette = survey.emotions or ("emotions",) in unsure
    if question.kind is QuestionKind.EMOTION and not palette:
        yield (*loc, "kind"), "an emotion question needs the survey's emotions palette"


def _condition(
    text: str,
    earlier: dict[str, _Asked],
    loc: Loc,
    survey: Survey,
    unsure: frozenset[Loc],
    placed: dict[str, tuple[int, str, int]],
    here: tuple[int, int],
) -> Iterator[Problem]:
    if not text.strip():
        yield loc, "empty condition: remove ask_if, or write one such as 'question_id <= 3'"
        return
    try:
        condition = parse_condition(text)
    except ConditionError as error:
        yield loc, str(error)
        return
    for comparison in condition.comparisons:
        asked = earlier.get(comparison.question_id)
        if asked is None:
            yield loc, _not_earlier(comparison.question_id, placed, here)
        elif asked.loc not in unsure:
            yield from _comparison(comparison, asked.question, loc, survey, unsure)


def _not_earlier(
    question_id: str, placed: dict[str, tuple[int, str, int]], here: tuple[int, int]
) -> str:
    rule = "ask_if can only use an earlier question of the same wave"
    where = placed.get(question_id)
    if where is None:
        return f"unknown question {question_id!r}: {rule}"
    wave, wave_id, index = where
    if wave != here[0]:
        return f"{question_id!r} is in wave {wave_id!r}: {rule}"
    if index == here[1]:
        return f"a question cannot depend on its own answer: {rule}"
    return f"{question_id!r} is asked later: {rule}"


def _comparison(
    comparison: Comparison, source: Question, loc: Loc, survey: Survey, unsure: frozenset[Loc]
) -> Iterator[Problem]:
    kind, value = source.kind, comparison.value
    if kind is QuestionKind.TEXT:
        yield loc, f"{source.id!r} is a text question: text answers cannot be compared"
    elif comparison.valence:
        if kind is not QuestionKind.EMOTION:
            yield loc, f"'.valence' needs an emotion question, {source.id!r} is {_a(kind)} one"
        elif not isinstance(value, int):
            yield (
                loc,
                (
                    f"'.valence' is a number from {VALENCE_RANGE[0]} to {VALENCE_RANGE[1]}; "
                    f"compare it with one (e.g. '{source.id}.valence < 0'), not {value!r}"
                ),
            )
        elif not VALENCE_RANGE[0] <= value <= VALENCE_RANGE[1]:
            yield (
                loc,
                (f"{value} is outside the valence range {VALENCE_RANGE[0]}..{VALENCE_RANGE[1]}"),
            )
    elif isinstance(value, int):
        bounds = _NUMERIC_RANGE.get(kind)
        if bounds is None:
            hint = " or use '.valence'" if kind is QuestionKind.EMOTION else ""
            yield (
                loc,
                (f"{source.id!r} is {_a(kind)} question; compare it with an option id{hint}"),
            )
        elif not bounds[0] <= value <= bounds[1]:
            yield loc, f"{value} is outside {kind}'s range {bounds[0]}..{bounds[1]}"
    elif not (kind is QuestionKind.EMOTION and ("emotions",) in unsure):
        yield from _option_reference(source, value, comparison.op, loc, survey)


def _option_reference(
    source: Question, value: str, op: str, loc: Loc, survey: Survey
) -> Iterator[Problem]:
    if source.kind is QuestionKind.CHOICE:
        known = {o.id for o in source.options}
    elif source.kind is QuestionKind.EMOTION:
        known = {e.id for e in survey.emotions}
    else:
        yield loc, f"{source.id!r} is {_a(source.kind)} question; compare it with a number"
        return
    if op not in ("==", "!="):
        yield loc, f"options can only be compared with == or !=, not {op}"
    if value not in known:
        yield loc, f"unknown option {value!r} of {source.id!r}"


def _waves(survey: Survey, unsure: frozenset[Loc]) -> Iterator[Problem]:
    for w, wave in enumerate(survey.waves):
        if ("waves", w) in unsure:
            continue
        expires = wave.expire_after.total_seconds() > 0
        if not expires:
            yield ("waves", w, "expire_after"), "must be longer than zero"
        if wave.remind_after is None:
            continue
        if wave.remind_after.total_seconds() <= 0:
            yield ("waves", w, "remind_after"), "must be longer than zero"
        elif expires and wave.remind_after >= wave.expire_after:
            yield ("waves", w, "remind_after"), "must be shorter than expire_after"


def _themes(survey: Survey, unsure: frozenset[Loc]) -> Iterator[Problem]:
    """A theme's words are listed per language of the survey."""
    if ("title",) in unsure:
        return
    for t, theme in enumerate(survey.themes):
        for language in theme.words:
            if language not in survey.title:
                yield (
                    ("themes", t, "words", language),
                    f"unknown language {language!r}: the survey has {', '.join(survey.title)}",
                )
