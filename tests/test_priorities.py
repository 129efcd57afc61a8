"""What to fix first (reports.priorities): relative weights add up to the R² of the
regression (numpy's least squares as the reference), the stage that really drives NPS
comes first, "fix first" needs both importance and a gap, and below the journeys needed
the report says the drivers cannot be told apart yet."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from reports.aggregate import Period
from reports.priorities import (
    MIN_JOURNEYS_PER_STAGE,
    JourneyScores,
    Priority,
    gaps_to_target,
    importance_window,
    priorities,
    ranked,
    scores_from_ratings,
)
from reports.priority_words import headline, sentence
from reports.relative_weights import relative_weights

STAGES = ("visit", "order", "wait", "food", "pay", "return")


def journeys(n: int, driver: int, seed: int, missing: float = 0.0) -> JourneyScores:
    """Customers with their own mood; NPS driven by one stage (and the mood)."""
    rng = np.random.default_rng(seed)
    mood = rng.normal(0, 0.5, n)
    x = np.column_stack([np.clip(4 + mood + rng.normal(0, 0.7, n), 1, 5) for _ in STAGES])
    y = np.clip(7 + 2.0 * (x[:, driver] - 4) + mood + rng.normal(0, 1.5, n), 0, 10)
    if missing:
        x[rng.random(x.shape) < missing] = np.nan
    return JourneyScores(STAGES, x, y)


def test_relative_weights_add_up_to_r_squared() -> None:
    scores = journeys(500, driver=2, seed=1)
    weights = relative_weights(scores.x, scores.y)
    design = np.column_stack([np.ones(scores.journeys), scores.x])
    beta, *_ = np.linalg.lstsq(design, scores.y, rcond=None)
    residual = scores.y - design @ beta
    r2 = 1 - residual @ residual / np.sum((scores.y - scores.y.mean()) ** 2)
    assert weights.sum() == pytest.approx(r2)
    assert int(np.argmax(weights)) == 2
    assert (weights >= 0).all()


def test_the_planted_driver_comes_first_with_gaps_everywhere() -> None:
    gaps = dict.fromkeys(STAGES, 0.4)
    result = priorities(journeys(150, driver=3, seed=2, missing=0.2), gaps)
    assert result.enough
    top = result.stages[0]
    assert top.stage == "food" and top.fix_first
    assert top.first > 0.9
    assert top.low <= top.importance <= top.high
    assert [p.stage for p in result.fix_first] == ["food"]
    assert headline(result, {"food": "Food"}, "en") == "Fix first: Food"
    assert sentence(top, "Food", "en").startswith("Food: ")
    assert "of what moves NPS (90%: " in sentence(top, "Food", "en")
    assert "stars below target" in sentence(top, "Food", "en")


def test_an_important_stage_on_target_is_not_to_fix() -> None:
    gaps = dict.fromkeys(STAGES, 0.3) | {"food": -0.2}
    result = priorities(journeys(300, driver=3, seed=3), gaps)
    food = next(p for p in result.stages if p.stage == "food")
    assert food.gap == 0 and not food.fix_first
    assert food.importance == max(p.importance for p in result.stages)
    assert "at or above target" in sentence(food, "Food", "en")
    assert "не ниже цели" in sentence(food, "Еда", "ru")
    assert headline(result, {}, "en") == "No stage that moves NPS falls short of its target."


def test_too_few_journeys_say_so() -> None:
    needed = MIN_JOURNEYS_PER_STAGE * len(STAGES)
    scores = journeys(needed - 1, driver=0, seed=4)
    result = priorities(scores, dict.fromkeys(STAGES, 0.5), days=35)
    assert not result.enough and result.stages == ()
    assert headline(result, {}, "en") == (
        f"What moves NPS cannot be told apart yet: {needed - 1} customers with an NPS answer "
        f"in 35 days ({needed} needed)."
    )
    assert headline(result, {}, "ru") == (
        f"Что сильнее влияет на NPS, пока не определить: {needed - 1} клиентов с ответом NPS "
        f"за 35 дней (нужно {needed})."
    )
    one_week = priorities(scores, dict.fromkeys(STAGES, 0.5), days=21)
    assert headline(one_week, {}, "ru").endswith(f"за 21 день (нужно {needed}).")


def test_one_stage_to_compare_says_so_not_too_few_journeys() -> None:
    """Hundreds of NPS answers, but a single stage rated enough this period: the words
    must not blame the number of answers."""
    result = priorities(journeys(300, driver=0, seed=5), {STAGES[0]: 0.5}, days=63)
    assert not result.enough and result.journeys >= result.needed
    assert headline(result, {}, "en") == (
        "What moves NPS cannot be told apart yet: fewer than two stages have enough ratings "
        "in this period to compare."
    )
    assert headline(result, {}, "ru") == (
        "Что сильнее влияет на NPS, пока не определить: в этом периоде меньше двух этапов с "
        "достаточным числом оценок для сравнения."
    )


def test_the_ranking_learns_from_the_period_and_its_baseline() -> None:
    """A weekly report ranks on at least nine weeks of NPS answers; a monthly one on the
    month and its four baseline months."""
    week = Period(date(2026, 11, 23), date(2026, 11, 30))
    assert importance_window(week, 4) == Period(date(2026, 9, 28), date(2026, 11, 30))
    assert importance_window(week, 0) == importance_window(week, 4)
    assert importance_window(week, 12).days == 91
    month = Period(date(2026, 11, 1), date(2026, 12, 1))
    assert importance_window(month, 4) == Period(date(2026, 7, 4), date(2026, 12, 1))
    assert importance_window(month, 4).days == 150


def test_gaps_are_to_the_higher_of_threshold_and_journey() -> None:
    assert gaps_to_target({"a": 4.6, "b": 4.0}, 3.5) == pytest.approx({"a": -0.3, "b": 0.3})
    assert gaps_to_target({"a": 3.0, "b": 3.2}, 3.5) == pytest.approx({"a": 0.5, "b": 0.3})
    assert gaps_to_target({}, 3.5) == {}


@pytest.mark.parametrize(
    ("gap", "english", "russian"),
    [
        (0.44, "0.4 stars below target", "на 0,4 звезды ниже цели"),
        (1.0, "1.0 stars below target", "на 1,0 звезды ниже цели"),
        (1.26, "1.3 stars below target", "на 1,3 звезды ниже цели"),
    ],
)
def test_a_stage_below_target_in_stars_in_each_language(
    gap: float, english: str, russian: str
) -> None:
    food = Priority("food", 0.456, 0.3, 0.61, 0.9, gap, True)
    assert sentence(food, "Food", "en") == (
        f"Food: 46% of what moves NPS (90%: 30–61%), {english}"
    )
    assert sentence(food, "Еда", "ru") == (
        f"Еда: 46\xa0% влияния на NPS (90 %: 30–61\xa0%), {russian}"
    )


def items_journeys(
    n: int, seed: int, beta: float = 1.0
) -> tuple[dict[int, float], list[tuple[int, str, str, float]]]:
    """Journeys whose NPS is driven by 'return', asked with one question, while 'visit'
    is asked with five; each question has its own level (easy and hard questions), and
    every rating carries noise of variance 0.36 around the journey's stage level."""
    rng = np.random.default_rng(seed)
    questions = {"visit": [f"v{i}" for i in range(5)], "return": ["r0"], "wait": ["w0", "w1"]}
    level = {q: 4.0 + 0.3 * (i % 3 - 1) for qs in questions.values() for i, q in enumerate(qs)}
    answers: dict[int, float] = {}
    rated: list[tuple[int, str, str, float]] = []
    for order in range(n):
        mood = rng.normal(0, 0.7)
        stage_level = {stage: mood + rng.normal(0, 0.5) for stage in questions}  # u + v
        for stage, qs in questions.items():
            rated += [
                (order, stage, q, level[q] + stage_level[stage] + rng.normal(0, 0.6)) for q in qs
            ]
        # NPS reads the mood through every stage (as bench.quality's customers do), which
        # a five-question stage measures best
        driven = beta * stage_level["return"] + 0.25 * (stage_level["visit"] + stage_level["wait"])
        answers[order] = 8.0 + driven + rng.normal(0, 1.0)
    return answers, rated


def test_the_rating_noise_is_measured_within_journeys_around_each_questions_level() -> None:
    answers, rated = items_journeys(2000, seed=3)
    scores = scores_from_ratings(answers, rated)
    assert scores.stages == ("return", "visit", "wait")
    assert scores.error_variance == pytest.approx(0.36, rel=0.05)  # not inflated by levels
    assert scores.items is not None
    assert list(scores.items[0]) == [1.0, 5.0, 2.0]
    # true-score variance 0.49 + 0.25 = 0.74; one rating adds 0.36, five 0.072
    reliability = scores.reliabilities()
    assert reliability[0] == pytest.approx(0.74 / (0.74 + 0.36), abs=0.03)
    assert reliability[1] == pytest.approx(0.74 / (0.74 + 0.072), abs=0.03)


def test_a_driver_asked_once_is_not_hidden_by_its_noise() -> None:
    """A stage asked once truly drives NPS (β 0.6 against 0.25 for the others), but a
    five-question stage measures the shared mood more cleanly: uncorrected, the noise hides
    the driver in most shops of 400 journeys; corrected for attenuation, it comes first."""
    gaps = {"return": 0.3, "visit": 0.3, "wait": 0.3}
    corrected = uncorrected = 0
    for seed in range(10):
        scores = scores_from_ratings(*items_journeys(400, seed, beta=0.6))
        bare = JourneyScores(scores.stages, scores.x, scores.y)  # no noise to measure by
        assert list(bare.reliabilities()) == [1.0, 1.0, 1.0]
        corrected += ranked(priorities(scores, gaps, bootstraps=1).stages)[0] == "return"
        uncorrected += ranked(priorities(bare, gaps, bootstraps=1).stages)[0] == "return"
    assert corrected >= 9
    assert uncorrected <= 5


def test_corrected_correlations_that_describe_no_data_are_made_whole_again() -> None:
    """Pairwise-complete correlations of stages over different journeys, divided by low
    reliabilities, can exceed what any data allow; the weights stay shares of an R² ≤ 1
    instead of running into the thousands."""
    rng = np.random.default_rng(5)
    n = 120
    mood = rng.normal(0, 1, n)
    x = np.column_stack([mood + rng.normal(0, 0.3, n) for _ in range(4)])
    y = 2 * mood + rng.normal(0, 1, n)
    x[:60, 0] = np.nan  # stage 0 and stage 1 seen by different halves of the journeys
    x[60:, 1] = np.nan
    reliability = np.full(4, 0.5)
    weights = relative_weights(x, y, reliability)
    assert np.isfinite(weights).all() and (weights >= 0).all()
    assert weights.sum() <= 1.0 + 1e-9
