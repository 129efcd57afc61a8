"""What to fix first (reports.priorities): relative weights add up to the R² of the
regression (numpy's least squares as the reference), the stage that really drives NPS
comes first, "fix first" needs both importance and a gap, and below the journeys needed
the report says the drivers cannot be told apart yet."""

from __future__ import annotations

import numpy as np
import pytest

from reports.priorities import (
    MIN_JOURNEYS_PER_STAGE,
    JourneyScores,
    gaps_to_target,
    priorities,
    relative_weights,
)
from reports.priority_words import headline, sentence

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
    assert "of what moves NPS (90 %: " in sentence(top, "Food", "en")
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
    result = priorities(journeys(needed - 1, driver=0, seed=4), dict.fromkeys(STAGES, 0.5))
    assert not result.enough and result.stages == ()
    assert headline(result, {}, "en") == (
        f"What moves NPS cannot be told apart yet: {needed - 1} customers with an NPS answer "
        f"({needed} needed)."
    )
    assert headline(result, {}, "ru") == (
        f"Что сильнее влияет на NPS, пока не определить: {needed - 1} клиентов с ответом NPS "
        f"(нужно {needed})."
    )


def test_gaps_are_to_the_higher_of_threshold_and_journey() -> None:
    assert gaps_to_target({"a": 4.6, "b": 4.0}, 3.5) == pytest.approx({"a": -0.3, "b": 0.3})
    assert gaps_to_target({"a": 3.0, "b": 3.2}, 3.5) == pytest.approx({"a": 0.5, "b": 0.3})
    assert gaps_to_target({}, 3.5) == {}
