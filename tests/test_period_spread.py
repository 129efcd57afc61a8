"""τ², how much a metric's true level moves from one period to the next: the two-way
analysis of the stages' period means (reports.period_spread) and what the drop rule makes
of it (reports.evidence)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from reports import evidence
from reports import period_spread as ps
from reports.customers import CustomerCells, CustomerFigures, Moments
from tests.support.drops import SETTINGS, drops_found


def table(
    rng: np.random.Generator,
    stages: int,
    periods: int,
    n: int,
    shop: float,
    own: float,
    sd: float = 0.9,
) -> tuple[np.ndarray, np.ndarray]:
    """Stages × periods of means of n customers (sd each) whose week moves by N(0, shop²)
    for the whole shop and N(0, own²) per stage."""
    week = rng.normal(0, shop, periods)[None, :] + rng.normal(0, own, (stages, periods))
    levels = rng.normal(4.2, 0.3, stages)[:, None]
    means = levels + week + rng.normal(0, sd / np.sqrt(n), (stages, periods))
    return means, np.full_like(means, sd * sd / n)


def test_many_periods_tell_the_shop_wide_and_the_stages_own_moves() -> None:
    rng = np.random.default_rng(1)
    means, sampling = table(rng, stages=6, periods=300, n=200, shop=0.12, own=0.06)
    spread = ps.period_spread(means, sampling, customer_sd=0.9)
    assert spread.variance == pytest.approx(0.12**2 + 0.06**2, rel=0.15)
    assert spread.df > 100  # 300 periods: the prior no longer speaks
    # a score relative to the same customers' other stages cannot move with the shop: only
    # the stages' own moves are told
    own_only = ps.period_spread(means, sampling, customer_sd=0.9, shared=False)
    assert own_only.variance == pytest.approx(0.06**2, rel=0.15)


def test_weeks_that_differ_only_by_their_customers_give_a_small_spread() -> None:
    rng = np.random.default_rng(2)
    means, sampling = table(rng, stages=6, periods=300, n=200, shop=0.0, own=0.0)
    spread = ps.period_spread(means, sampling, customer_sd=0.9)
    assert spread.variance < 0.1 * 0.9**2 / 200  # a tenth of a week's sampling variance


def test_a_stage_missing_from_some_periods_still_counts() -> None:
    # the additive fit of stages and periods with holes: a stage asked only in some weeks
    # (a wave of its own) does not bias the shop's moves
    rng = np.random.default_rng(3)
    means, sampling = table(rng, stages=5, periods=300, n=300, shop=0.1, own=0.0)
    full = ps.period_spread(means, sampling, customer_sd=0.9)
    holes = means.copy()
    holes[0, ::2] = np.nan
    holes[3, 1::3] = np.nan
    with_holes = ps.period_spread(holes, sampling, customer_sd=0.9)
    assert with_holes.variance == pytest.approx(full.variance, rel=0.1)


def test_without_periods_the_prior_alone_speaks() -> None:
    spread = ps.period_spread(np.full((3, 1), 4.2), np.full((3, 1), 0.01), customer_sd=0.9)
    scale = ps.PRIOR_SCALE * 0.9
    assert 0 < spread.variance < 3 * 2 * scale**2  # at most a half-t₃'s E[τ²] per part
    assert 4 <= spread.df < 6  # and as uncertain as such a prior is
    assert ps.period_spread(np.empty((0, 0)), np.empty((0, 0)), 0.9) == spread


def test_a_shop_wide_bad_week_is_one_replicate_not_one_per_stage() -> None:
    # Six stages whose weeks all move together by ±0.1 star (weather, staff): the stages
    # are one replicate of that move, not six. Counted as six (τ² pooled over the stages
    # with their df summed), a healthy stage's drop p fell below 0.002 in 1.4–1.5 % of
    # the tests at 300 and 1,000 customers a week — seven times what it claims.
    rng = np.random.default_rng(4)
    p_values: list[float] = []
    for _ in range(300):
        now, baseline = shop_weeks(rng, stages=6, periods=4, n=1000, shop=0.1)
        periods = evidence._periods(now, baseline, (), "rating")
        spread = evidence._metric_spread(periods, "rating")
        p_values += [f.p for f in evidence._drops(periods, "rating", SETTINGS, spread)]
    assert len(p_values) == 300 * 6
    assert np.mean(np.asarray(p_values) < 0.002) <= 0.004


def test_a_drop_of_one_stage_shows_above_the_shops_good_and_bad_weeks() -> None:
    rng = np.random.default_rng(6)
    found = 0
    for _ in range(100):
        now, baseline = shop_weeks(rng, stages=6, periods=4, n=300, shop=0.1, drop=0.8)
        found += "s0" in drops_found(now, baseline)
    assert found / 100 >= 0.8


def shop_weeks(
    rng: np.random.Generator, stages: int, periods: int, n: int, shop: float, drop: float = 0.0
) -> tuple[CustomerCells, list[CustomerCells]]:
    """Weeks of a shop whose stages all move together by N(0, shop²); the last week is the
    report's, its first stage `drop` stars lower."""

    def week(shift: float) -> CustomerCells:
        move = rng.normal(0, shop)
        result = {}
        for stage in range(stages):
            scores = rng.normal(4.2 + move - (shift if stage == 0 else 0.0), 0.9, n)
            rating = Moments(n, float(scores.sum()), float((scores * scores).sum()))
            result[f"s{stage}"] = CustomerFigures(customers=n, rating=rating)
        return CustomerCells(result, {})

    baseline = [week(0.0) for _ in range(periods)]
    return week(drop), baseline


def test_the_posterior_is_the_integral_over_the_prior() -> None:
    """The grid of prior quantiles against scipy's numerical integration of the same
    posterior."""
    rng = np.random.default_rng(5)
    means, sampling = table(rng, stages=4, periods=5, n=100, shop=0.08, own=0.05)
    spread = ps.period_spread(means, sampling, customer_sd=0.9)
    assert spread.variance == pytest.approx(reference_mean(means, sampling, 0.9), rel=0.005)


def reference_mean(means: np.ndarray, sampling: np.ndarray, customer_sd: float) -> float:
    stages, periods = means.shape
    deviations = means - means.mean(axis=1, keepdims=True)
    period_dev = deviations.mean(axis=0)
    ms_period = stages * float(np.sum(period_dev**2)) / (periods - 1)
    df_within = (stages - 1) * (periods - 1)
    ms_within = float(np.sum((deviations - period_dev) ** 2)) / df_within
    s2 = float(sampling.mean())
    scale = ps.PRIOR_SCALE * customer_sd

    # τ = scale · u / (1 − u) maps u ∈ [0, 1) onto the whole half-line; Simpson's rule on
    # a dense grid of u for each part
    u = np.linspace(0, 1, 1501)[:-1]
    tau = scale * u / (1 - u)
    jacobian = scale / (1 - u) ** 2
    prior = 2 * stats.t.pdf(tau / scale, ps.PRIOR_DF) / scale * jacobian
    shop, own = tau[:, None] ** 2, tau[None, :] ** 2
    e_period = stages * shop + own + s2
    e_within = own + s2
    like = stats.chi2.pdf(ms_period * (periods - 1) / e_period, periods - 1) / e_period
    like = like * stats.chi2.pdf(ms_within * df_within / e_within, df_within) / e_within
    weight = prior[:, None] * prior[None, :] * like
    mass = integrate.simpson(integrate.simpson(weight, x=u), x=u)
    first = integrate.simpson(integrate.simpson((shop + own) * weight, x=u), x=u)
    return float(first / mass)
