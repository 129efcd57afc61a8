"""How much a metric's true level moves from one period to the next (τ²), told from the
stages' period means before the reported period — with its uncertainty, since a young shop
has only a few periods to tell it from.

A period's true level moves in two ways: the whole shop has a good or a bad week (staff,
weather, a delivery partner: every stage moves together), and a stage has one of its own.
The two are told apart as in a two-way random-effects analysis of variance (stages ×
periods, the stages' own levels fixed):

- the *period* mean square, the spread of the periods' mean deviations (over the stages),
  has the periods − 1 degrees of freedom and expects  m τ²_shop + τ²_stage + s²;
- the *interaction* mean square, what is left of each stage's deviation after its period's
  mean, has (stages − 1)(periods − 1) and expects  τ²_stage + s²;

s² being the customers' sampling variance of a period mean. A shop-wide shock is therefore
known from the periods alone (four weeks: three degrees of freedom, however many stages),
and a stage's own from all the stages together. Counting each stage as an independent
replicate of a shop-wide shock made the drop test's p ten times too small at p = 0.001.

Neither part is estimated as a point: the moment estimates are truncated at zero half of
the time when τ² is about s², and a drop test that then leaves τ² out is too bold. Both
parts get a weakly informative half-t prior with 3 degrees of freedom and the scale
`PRIOR_SCALE` of the customers' own spread (Gelman 2006: a half-t rather than a
half-normal, whose thin tail would overrule the data of a shop far more uneven than the
scale; 3 rather than the Cauchy's 1, so that τ²'s posterior has a mean even from two
periods). The two mean squares' χ² likelihoods are evaluated on a grid of the prior's
quantiles, and the posterior mean and variance of τ² = τ²_shop + τ²_stage go to the drop
test (reports.evidence._drop), which counts that variance as degrees of freedom. With few
periods the prior speaks; with many, the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

# The prior's scale for τ (either part), as a share of the customers' standard deviation:
# a week moving a stage by a tenth of how much customers differ is an ordinary week, and
# the prior's tail leaves room for shops far more uneven than that.
PRIOR_SCALE = 0.1
PRIOR_DF = 3
GRID = 96  # prior quantiles per part: the posterior is summed over GRID² points
BACKFIT_ROUNDS = 8  # additive fit of stages × periods when a stage misses a period

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True, slots=True)
class PeriodSpread:
    """τ² (the variance of a period's true mean around the stage's level) as a posterior:
    its mean and variance. A week of 1,000 customers knows its own mean to ±0.04 stars, but
    shops have good and bad weeks; a drop test that ignored that would call every ordinary
    week a drop once a shop is big."""

    variance: float = 0.0  # posterior mean of τ²
    uncertainty: float = 0.0  # posterior variance of τ²

    @property
    def df(self) -> float:
        """Degrees of freedom of a t whose scale mixes over this posterior (a normal
        mixed over a scaled-inverse-χ²_ν variance is a t_ν: ν = 4 + 2 E² / Var)."""
        if self.uncertainty <= 0:
            return float("inf")
        return 4.0 + 2.0 * self.variance**2 / self.uncertainty


# The standard half-t's quantiles at the midpoints of GRID equal-probability slices: each
# grid point carries the same prior weight.
_STANDARD: FloatArray = np.asarray(
    stats.t.ppf(0.5 + (np.arange(GRID) + 0.5) / GRID / 2, PRIOR_DF), dtype=float
)


def _deviations(means: FloatArray, present: FloatArray) -> FloatArray:
    """Each stage's deviation in each period from its own level, the levels fitted with the
    periods' shared moves (least squares by backfitting: exact in one round when no period
    is missing, where it is the stage's mean)."""
    weights = present.astype(float)
    values = np.where(present, means, 0.0)
    counts_row = weights.sum(axis=1)
    counts_col = np.maximum(weights.sum(axis=0), 1.0)
    period = np.zeros(means.shape[1])
    for _ in range(BACKFIT_ROUNDS):
        stage = ((values - period) * weights).sum(axis=1) / counts_row
        period = ((values - stage[:, None]) * weights).sum(axis=0) / counts_col
    deviations: FloatArray = (values - stage[:, None]) * weights
    return deviations


def period_spread(
    means: FloatArray, sampling: FloatArray, customer_sd: float, shared: bool = True
) -> PeriodSpread:
    """τ² from a stages × periods table of period means (NaN: the stage had too few
    customers that period) with each mean's sampling variance (its customers' variance over
    their number). `customer_sd` sets the prior's scale. `shared=False`: the metric cannot
    move with the whole shop — a score relative to the same customer's other stages, where
    a shop-wide move cancels — so only the stages' own moves are told, from the interaction."""
    present = ~np.isnan(means)
    stages = present.sum(axis=1) >= 2  # a stage seen once has no deviation to show
    means, sampling, present = means[stages], sampling[stages], present[stages]
    periods = present.any(axis=0)
    means, sampling, present = means[:, periods], sampling[:, periods], present[:, periods]
    n_stages, n_periods = means.shape
    scale = PRIOR_SCALE * customer_sd
    tau = scale * _STANDARD
    shop, own = (tau[:, None] ** 2 if shared else np.zeros((1, 1))), tau[None, :] ** 2
    if n_stages == 0 or n_periods < 2:  # no period to tell it from: the prior alone
        return _summary(shop + own, np.zeros_like(shop + own))
    deviations = _deviations(means, present)
    cells = int(present.sum())
    s2 = float(np.mean(sampling[present]))
    # A period's mean deviation over its stages carries m τ²_shop (m: stages per period).
    m = cells / n_periods
    period_dev = deviations.sum(axis=0) / np.maximum(present.sum(axis=0), 1)
    df_period = n_periods - 1
    ms_period = float(np.sum(present.sum(axis=0) * period_dev**2)) / df_period
    df_within = cells - n_stages - n_periods + 1
    ms_within = (
        float(np.sum((deviations - period_dev * present) ** 2)) / df_within
        if df_within > 0
        else 0.0
    )
    if shared or df_within <= 0:
        log_like = _chi2_log_like(ms_period, df_period, m * shop + own + s2)
    else:  # the periods' mean relative scores are near zero by construction: not evidence
        log_like = np.zeros_like(shop + own)
    if df_within > 0:
        log_like = log_like + _chi2_log_like(ms_within, df_within, own + s2)
    return _summary(shop + own, log_like)


def _chi2_log_like(mean_square: float, df: float, expected: FloatArray) -> FloatArray:
    """log density of a mean square with `df` degrees of freedom, up to a constant."""
    result: FloatArray = -0.5 * df * (np.log(expected) + mean_square / expected)
    return result


def _summary(total: FloatArray, log_like: FloatArray) -> PeriodSpread:
    weights = np.exp(log_like - log_like.max())
    weights /= weights.sum()
    mean = float(np.sum(weights * total))
    variance = float(np.sum(weights * (total - mean) ** 2))
    return PeriodSpread(mean, variance)
