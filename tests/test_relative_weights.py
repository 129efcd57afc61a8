"""Relative weights, for one sample and for every bootstrap resample at once
(reports.relative_weights): a published example, the orthogonal case, an independent
reference (numpy's correlations, scipy's matrix square root) on data with gaps, and the
priorities' bootstrap against the loop over resamples it replaced."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from reports.priorities import CONFIDENCE, SEED, JourneyScores, priorities
from reports.relative_weights import (
    Matrix,
    relative_weights,
    resampled_weights,
    weights_and_resampled,
)


def with_correlations(joint: Matrix, n: int, seed: int) -> Matrix:
    """n rows whose sample correlation matrix is exactly `joint`."""
    rng = np.random.default_rng(seed)
    white = rng.normal(size=(n, len(joint)))
    white -= white.mean(axis=0)
    orthonormal, _ = np.linalg.qr(white)
    data: Matrix = orthonormal @ np.linalg.cholesky(joint).T
    return data


def test_the_published_example_of_the_rwa_package() -> None:
    """R's `rwa` (Martin Chan), its reference example: price on depth and carat of
    ggplot2's diamonds — RXX 0.02822431, RXY (−0.0106474, 0.9215913) give raw relative
    weights 0.000729149 and 0.849946308, R² 0.8506755."""
    joint = np.array(
        [[1, 0.02822431, -0.0106474], [0.02822431, 1, 0.9215913], [-0.0106474, 0.9215913, 1]]
    )
    data = with_correlations(joint, 60, seed=0)
    weights = relative_weights(data[:, :2], data[:, 2])
    assert weights == pytest.approx([0.000729149, 0.849946308], abs=5e-9)
    assert weights.sum() == pytest.approx(0.8506755, abs=5e-8)


def test_uncorrelated_stages_weigh_their_squared_correlation() -> None:
    joint = np.eye(4)
    joint[:3, 3] = joint[3, :3] = [0.5, 0.3, -0.2]
    data = with_correlations(joint, 40, seed=1)
    weights = relative_weights(data[:, :3], data[:, 3])
    assert weights == pytest.approx([0.25, 0.09, 0.04], abs=1e-12)


def reference(x: Matrix, y: Matrix) -> Matrix:
    """Johnson's weights the textbook way: each pair's correlation over the rows that have
    both (numpy's corrcoef), Λ = R^½ (scipy), β = Λ⁻¹ r, ε = Λ²β²."""
    data = np.column_stack([x, y])
    m = data.shape[1]
    corr = np.eye(m)
    for a in range(m):
        for b in range(a + 1, m):
            both = ~np.isnan(data[:, a]) & ~np.isnan(data[:, b])
            corr[a, b] = corr[b, a] = np.corrcoef(data[both, a], data[both, b])[0, 1]
    root = np.real(linalg.sqrtm(corr[:-1, :-1]))
    beta = np.linalg.solve(root, corr[:-1, -1])
    result: Matrix = (root**2) @ (beta**2)
    return result


def sample(n: int, seed: int, missing: float) -> tuple[Matrix, Matrix]:
    rng = np.random.default_rng(seed)
    mood = rng.normal(0, 0.5, n)
    x = np.column_stack([np.clip(4 + mood + rng.normal(0, 0.7, n), 1, 5) for _ in range(5)])
    y = np.clip(7 + 2 * (x[:, 1] - 4) + mood + rng.normal(0, 1.5, n), 0, 10)
    x[rng.random(x.shape) < missing] = np.nan
    return x, y


def test_every_resample_at_once_equals_each_resample_on_its_own() -> None:
    x, y = sample(300, seed=2, missing=0.25)
    rng = np.random.default_rng(3)
    draws = [rng.integers(0, 300, 300) for _ in range(20)]
    counts = np.stack([np.bincount(rows, minlength=300) for rows in draws]).astype(float)
    reliability = np.array([0.9, 0.5, 0.7, 1.0, 0.3])
    at_once = resampled_weights(x, y, counts)
    corrected = resampled_weights(x, y, counts, reliability)
    for b, rows in enumerate(draws):
        assert at_once[b] == pytest.approx(reference(x[rows], y[rows]), abs=1e-10)
        alone = relative_weights(x[rows], y[rows], reliability)
        assert corrected[b] == pytest.approx(alone, abs=1e-12)
    assert relative_weights(x, y) == pytest.approx(reference(x, y), abs=1e-10)


def test_the_bootstrap_draws_the_resamples_it_always_drew() -> None:
    """The loop the vectorised bootstrap replaced: one draw of journeys per resample from
    the seeded generator, the weights of each as shares. Intervals and 'first' agree."""
    x, y = sample(400, seed=4, missing=0.2)
    stages = ("a", "b", "c", "d", "e")
    gaps = dict.fromkeys(stages, 0.3)
    result = {p.stage: p for p in priorities(JourneyScores(stages, x, y), gaps, 50).stages}
    rng = np.random.default_rng(SEED)
    shares = []
    for _ in range(50):
        rows = rng.integers(0, 400, 400)
        weights = relative_weights(x[rows], y[rows], np.ones(5))
        shares.append(weights / weights.sum())
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(np.array(shares), [tail, 1 - tail], axis=0)
    first = np.bincount(np.argmax(shares, axis=1), minlength=5) / 50
    for j, stage in enumerate(stages):
        assert result[stage].low == pytest.approx(low[j], abs=1e-12)
        assert result[stage].high == pytest.approx(high[j], abs=1e-12)
        assert result[stage].first == first[j]
    assert max(result.values(), key=lambda p: p.importance).stage == "b"


@pytest.mark.parametrize("layout", ["C", "F"])
def test_the_whole_sample_and_its_resamples_together_are_each_on_its_own(layout: str) -> None:
    """weights_and_resampled shares the journeys' cross-products between the two: the same
    weights to the last bit, in either memory order of the stage scores (the priorities
    pick their columns, which leaves them column-major)."""
    x, y = sample(500, seed=6, missing=0.3)
    x = np.asfortranarray(x) if layout == "F" else np.ascontiguousarray(x)
    counts = np.random.default_rng(7).integers(0, 3, (40, 500)).astype(float)
    reliability = np.array([0.9, 0.5, 0.7, 1.0, 0.3])
    whole, resampled = weights_and_resampled(x, y, counts, reliability)
    assert np.array_equal(whole, relative_weights(x, y, reliability))
    assert np.array_equal(resampled, resampled_weights(x, y, counts, reliability))
