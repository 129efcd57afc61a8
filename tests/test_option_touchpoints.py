"""Touchpoints of choice options: "where did you hear of us" answers land on the awareness
touchpoint the customer picked — validated by `cjm survey check`, stored with the answer and
counted on that touchpoint of the map."""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pytest

from reports.aggregate import Period, aggregate
from surveys.loader import SurveyError, load_survey, parse_survey
from tests.flows import first_wave
from tests.support.harness import Harness

SURVEY = textwrap.dedent(
    """\
    id: mini
    title: {ru: "Мини", en: "Mini"}
    default_locale: en
    stages:
      - id: awareness
        name: {ru: "Узнавание", en: "Awareness"}
        touchpoints:
          - {id: social, name: {ru: "Соцсети", en: "Social media"}}
      - id: purchase
        name: {ru: "Покупка", en: "Purchase"}
        touchpoints:
          - {id: checkout, name: {ru: "Касса", en: "Checkout"}}
    waves:
      - id: after_purchase
        after: 2h
        questions:
          - id: heard_from
            stage: awareness
            kind: choice
            text: {ru: "Откуда?", en: "Where from?"}
            options:
              - {id: social, touchpoint: social, label: {ru: "Соцсети", en: "Social media"}}
              - {id: other, label: {ru: "Другое", en: "Something else"}}
    """
)


def problems_of(text: str) -> list[str]:
    with pytest.raises(SurveyError) as caught:
        parse_survey(text, "s.yaml")
    return [problem.render("s.yaml") for problem in caught.value.problems]


def line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_an_option_may_name_a_touchpoint_of_its_stage() -> None:
    question = parse_survey(SURVEY).waves[0].questions[0]
    assert question.touchpoint_of("social") == "social"
    assert question.touchpoint_of("other") is None  # the question's own: none
    assert question.touchpoint_of(None) is None


def test_the_question_touchpoint_is_kept_for_options_without_one() -> None:
    text = SURVEY.replace("kind: choice", "touchpoint: social\n        kind: choice")
    question = parse_survey(text).waves[0].questions[0]
    assert question.touchpoint_of("other") == "social"


def test_a_touchpoint_of_another_stage_is_rejected_with_its_path_and_line() -> None:
    text = SURVEY.replace("{id: social, touchpoint: social,", "{id: social, touchpoint: checkout,")
    assert problems_of(text) == [
        f"s.yaml:{line_of(text, 'touchpoint: checkout')}: "
        "waves[0].questions[0].options[0].touchpoint: touchpoint 'checkout' belongs to stage "
        "'purchase', not to the question's stage 'awareness'"
    ]


def test_an_unknown_option_touchpoint_is_rejected() -> None:
    text = SURVEY.replace("{id: other, label:", "{id: other, touchpoint: billboards, label:")
    assert problems_of(text) == [
        f"s.yaml:{line_of(text, 'billboards')}: waves[0].questions[0].options[1].touchpoint: "
        "unknown touchpoint 'billboards' in stage 'awareness'"
    ]


def test_a_touchpoint_that_is_not_an_id_is_a_structural_problem() -> None:
    text = SURVEY.replace("touchpoint: social,", "touchpoint: Social Media,")
    [problem] = problems_of(text)
    assert problem.startswith(
        f"s.yaml:{line_of(text, 'Social Media')}: waves[0].questions[0].options[0].touchpoint: "
    )


@pytest.mark.parametrize("name", ["cafe", "online_shop", "lean"])
def test_bundled_options_name_touchpoints_of_their_own_stage(name: str) -> None:
    survey = load_survey(name)
    mapped = 0
    for wave in survey.waves:
        for question in wave.questions:
            stage = survey.stage(question.stage)
            assert stage is not None
            own = {t.id for t in stage.touchpoints}
            for option in question.options:
                assert option.touchpoint is None or option.touchpoint in own
                mapped += option.touchpoint is not None
    assert mapped >= 2


def test_the_cafe_maps_where_guests_heard_of_it_to_awareness_touchpoints() -> None:
    cafe = load_survey("cafe")
    heard_from = next(q for q in cafe.waves[0].questions if q.id == "heard_from")
    assert {o.id: o.touchpoint for o in heard_from.options} == {
        "friends": "friends", "social": "social", "street": "street", "maps": "maps",
        "regular": None, "other": None,
    }  # fmt: skip


async def test_a_mapped_choice_lands_on_its_touchpoint_in_the_aggregate(
    harness: Harness,
) -> None:
    alice, bob = harness.user(501), harness.user(502)
    await harness.click(alice, await first_wave(harness, alice, "alice"), "On social media")
    await harness.click(bob, await first_wave(harness, bob, "bob"), "I've been here before")

    stored = {
        a.choice: a.touchpoint for a in await harness.answers() if a.question_id == "heard_from"
    }
    assert stored == {"social": "social", "regular": None}
    today = harness.clock.now.date()
    async with harness.session() as session:
        counted = await aggregate(session, "cafe", Period(today, today + timedelta(days=1)))
    assert counted.touchpoints[("awareness", "social")].answers == 1
    assert ("awareness", "friends") not in counted.touchpoints
    assert counted.stages["awareness"].answers == 2  # both count in the stage
