from __future__ import annotations

import math

import pytest

from reports.figures import Figures


def test_empty_figures_have_no_scores() -> None:
    empty = Figures()
    assert (empty.average_rating, empty.csat, empty.nps, empty.nps_margin) == (None,) * 4
    assert (empty.mean_valence, empty.rating_variance) == (None, None)


def test_scores_from_sums_and_counts() -> None:
    # ratings 5, 4, 2, 1 — NPS answers 10, 9, 7, 3, 0 — valences +2, −1
    figures = Figures(
        answers=11, ratings=4, rating_sum=12, rating_squares=46, satisfied=2,
        nps_answers=5, promoters=2, detractors=2, valence_answers=2, valence_sum=1,
    )  # fmt: skip
    assert figures.average_rating == 3.0
    assert figures.rating_variance == pytest.approx((46 - 4 * 9) / 3)
    assert figures.csat == 0.5
    assert figures.nps == 0.0
    # P = D = 0.4: SE = √((0.8 − 0) / 5) = 0.4; margin = 1.96 × 0.4 × 100
    assert figures.nps_margin == pytest.approx(78.4)
    assert figures.mean_valence == 0.5
    assert math.isclose(Figures(nps_answers=4, promoters=4).nps_margin or 0, 0.0)
