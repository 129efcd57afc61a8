"""Cross-reference checks that pydantic's structural validation cannot express.

Each check yields `(location, message)`; a location is a path such as
`("waves", 0, "questions", 2, "stage")`, printed as `waves[0].questions[2].stage`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

from surveys.conditions import ConditionError, parse_condition
from surveys.model import Question, QuestionKind, Survey

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]

_NUMERIC_RANGE = {QuestionKind.RATING: (1, 5), QuestionKind.NPS: (0, 10)}


def check_survey(survey: Survey) -> list[Problem]:
    return [
        *_duplicates(survey),
        *_translations(survey),
        *_questions(survey),
        *_waves(survey),
    ]


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
    seen: set[str] = set()
    for w, wave in enumerate(survey.waves):
        for q, question in enumerate(wave.questions):
            if question.id in seen:
                yield ("waves", w, "questions", q, "id"), f"duplicate question id {question.id!r}"
            seen.add(question.id)


def _texts(survey: Survey) -> Iterator[tuple[Loc, dict[str, str]]]:
    for i, emotion in enumerate(survey.emotions):
        yield ("emotions", i, "label"), emotion.label
    for i, stage in enumerate(survey.stages):
        yield ("stages", i, "name"), stage.name
        for j, touchpoint in enumerate(stage.touchpoints):
            yield ("stages", i, "touchpoints", j, "name"), touchpoint.name
    for w, wave in enumerate(survey.waves):
        if wave.intro:
            yield ("waves", w, "intro"), wave.intro
        for q, question in enumerate(wave.questions):
            yield ("waves", w, "questions", q, "text"), question.text
            for o, option in enumerate(question.options):
                yield ("waves", w, "questions", q, "options", o, "label"), option.label


def _translations(survey: Survey) -> Iterator[Problem]:
    if survey.default_locale not in survey.title:
        yield ("title",), f"no text for the default locale {survey.default_locale!r}"
    wanted = set(survey.title)
    for loc, text in _texts(survey):
        missing = sorted(wanted - set(text))
        if missing:
            yield loc, f"missing translation: {', '.join(missing)}"


def _questions(survey: Survey) -> Iterator[Problem]:
    stages = {s.id: s for s in survey.stages}
    for w, wave in enumerate(survey.waves):
        earlier: dict[str, Question] = {}
        for q, question in enumerate(wave.questions):
            loc: Loc = ("waves", w, "questions", q)
            stage = stages.get(question.stage)
            if stage is None:
                yield (*loc, "stage"), f"unknown stage {question.stage!r}"
            elif question.touchpoint and question.touchpoint not in {
                t.id for t in stage.touchpoints
            }:
                yield (
                    (*loc, "touchpoint"),
                    f"unknown touchpoint {question.touchpoint!r} in stage {stage.id!r}",
                )
            yield from _options(survey, question, loc)
            if question.ask_if:
                yield from _condition(question.ask_if, earlier, (*loc, "ask_if"), survey)
            earlier[question.id] = question


def _options(survey: Survey, question: Question, loc: Loc) -> Iterator[Problem]:
    if question.kind is QuestionKind.CHOICE and len(question.options) < 2:
        yield (*loc, "options"), "a choice question needs at least two options"
    if question.kind is not QuestionKind.CHOICE and question.options:
        yield (*loc, "options"), f"options are only for choice questions, not {question.kind}"
    if question.kind is QuestionKind.CHOICE and len(question.options) > 12:
        yield (*loc, "options"), "at most 12 options fit a keyboard a customer can read"
    if question.kind is QuestionKind.EMOTION and not survey.emotions:
        yield (*loc, "kind"), "an emotion question needs the survey's emotions palette"


def _condition(
    text: str, earlier: dict[str, Question], loc: Loc, survey: Survey
) -> Iterator[Problem]:
    try:
        condition = parse_condition(text)
    except ConditionError as error:
        yield loc, str(error)
        return
    for comparison in condition.comparisons:
        source = earlier.get(comparison.question_id)
        if source is None:
            yield loc, (f"{comparison.question_id!r} is not an earlier question of this wave")
            continue
        kind = source.kind
        if comparison.valence:
            if kind is not QuestionKind.EMOTION:
                yield loc, f"'.valence' needs an emotion question, {source.id!r} is {kind}"
        elif isinstance(comparison.value, int):
            bounds = _NUMERIC_RANGE.get(kind)
            if bounds is None:
                yield loc, f"{source.id!r} is a {kind} question; compare it with an option id"
            elif not bounds[0] <= comparison.value <= bounds[1]:
                yield loc, f"{comparison.value} is outside {kind}'s range {bounds[0]}..{bounds[1]}"
        else:
            yield from _option_reference(source, comparison.value, comparison.op, loc, survey)


def _option_reference(
    source: Question, value: str, op: str, loc: Loc, survey: Survey
) -> Iterator[Problem]:
    if op not in ("==", "!="):
        yield loc, f"options can only be compared with == or !=, not {op}"
    if source.kind is QuestionKind.CHOICE:
        known = {o.id for o in source.options}
    elif source.kind is QuestionKind.EMOTION:
        known = {e.id for e in survey.emotions}
    else:
        yield loc, f"{source.id!r} is a {source.kind} question; compare it with a number"
        return
    if value not in known:
        yield loc, f"unknown option {value!r} of {source.id!r}"


def _waves(survey: Survey) -> Iterator[Problem]:
    for w, wave in enumerate(survey.waves):
        if wave.remind_after is not None and wave.remind_after >= wave.expire_after:
            yield ("waves", w, "remind_after"), "must be shorter than expire_after"
        if wave.expire_after.total_seconds() <= 0:
            yield ("waves", w, "expire_after"), "must be longer than zero"
