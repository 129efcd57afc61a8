"""The map's verdicts from customer-level sums: estimates with intervals, small cells shrunk,
three rules per metric, and the false discovery rate controlled over the whole report.

For every cell (a stage, or a touchpoint of a stage) and metric (mean rating, CSAT, NPS,
mood) the customers of the period give a mean and a variance between customers
(reports.customers). Then:

1. **Moderated variance** (Smyth 2004): each cell's variance is pooled with the variance
   of all cells of the report for that metric, as if `PRIOR_DF` customers of prior
   evidence — so five identical answers never mean "no uncertainty".
2. **Shrinkage** (normal–normal empirical Bayes): the cell's mean is pulled toward the
   journey-wide mean of that metric by the share of its variance that the spread between
   cells does not explain (DerSimonian–Laird estimate of that spread, with the
   uncertainty of the journey-wide mean carried into the posterior). A big cell keeps its
   own mean; a cell of five customers moves most of the way to the journey.
3. **Rules**, each a one-sided test:
   - *threshold*: the metric is below the survey's threshold (p: the posterior
     probability of "at or above" over the period and its baseline — a small cell must
     first overcome the journey's level, and a standing shortfall is told by all the
     weeks — while the period's own estimate must be below the line);
   - *relative*: the customers' mean rating of the cell is lower than their own other
     ratings (p: a one-sided t-test of "no lower" on the customers' paired differences,
     which already carry each customer's mood, over the period and its baseline — a
     standing trait is told by all the weeks), and the period's shrunk estimate is lower
     by at least the minimum important difference (`relative_rating`);
   - *drop*: the metric is lower than in the baseline (the `baseline_periods` periods of the
     same length before; Welch's test of "no drop" with the spread between periods added,
     as a control chart's limits are — τ² as a posterior from the stages × periods table,
     the shop's shared moves apart from each stage's own: reports.period_spread), and the
     estimated drop is at least the minimum drop; also the relative score (a stage fallen
     against the rest of the same customers' visit, with the rating's minimum drop).
   The threshold and relative rules' evidence over the period and its baseline has the
   same τ² added to its variance, as the drop's has.
   The minimum differences are asked of the estimate, not put into the null: a null
   shifted by the minimum difference spends a third of a 0.5-star effect's evidence on
   the margin and left real problems at "watch" (bench/README.md, quality).
4. **False discoveries**: every p-value of the report (cells × metrics × rules) goes
   through one Benjamini–Hochberg procedure at `fdr`, conditioned on p ≤ 0.5 (Zhao,
   Small & Su 2019: the many hypotheses far inside their null are uniformly
   conservative); a cell is a *problem* when one of its tests is a discovery whose
   estimate is past the rule's line. A cell is
   *watch* when a rule says "maybe" without the evidence: a threshold rule by its estimate
   (past the line, or the line within reach); a relative or drop rule when its estimate is
   past the line *and* it is a discovery at the looser `watch_fdr` — a hint of evidence.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np
from scipy import special, stats

from reports.customers import CustomerCells, CustomerFigures, Moments
from reports.period_spread import PeriodSpread, period_spread

CONDITION = 0.5  # conditional BH: only p-values at most this are tested (rescaled)
PRIOR_DF = 4.0  # customers' worth of the pooled variance in each cell's variance
INTERVAL = 0.90  # the intervals shown to owners
# Periods the spread between periods (τ²) is estimated from, where the shop has answers
# that far back: the baseline's own four give it few degrees of freedom.
SPREAD_PERIODS = 8

# The metrics tested, with a default variance between customers for a report that has no
# cell to pool from, and the watch margin: "close to the threshold" when the estimate is
# less than this above it and the threshold is inside the interval.
METRICS = ("rating", "csat", "nps", "valence")
DEFAULT_VARIANCE = {"rating": 1.0, "csat": 0.25, "nps": 0.6, "valence": 1.5, "relative": 1.0}
WATCH_MARGIN = {"rating": 0.3, "csat": 0.05, "nps": 0.10, "valence": 0.25}
# The journey-wide level counts as this many customers against a cell's own: the smallest
# spread between cells assumed is the between-customer variance over it. A cell of five
# customers keeps a third of its difference from the journey, a cell of a hundred 91 %.
PRIOR_CUSTOMERS = 10.0


class Rule(StrEnum):
    THRESHOLD = "threshold"
    RELATIVE = "relative"
    DROP = "drop"


CellKey = tuple[str, str | None]  # (stage, touchpoint or None for the stage itself)


@dataclass(frozen=True, slots=True)
class Settings:
    """The survey's thresholds and decision keys, in the metrics' internal units: CSAT a
    share 0–1, NPS coded −1…1 (NPS / 100), mood −2…2."""

    thresholds: Mapping[str, float]
    min_customers: int = 5
    relative_rating: float = 0.15  # stars below the customers' other ratings
    drops: Mapping[str, float] = field(
        default_factory=lambda: {
            "rating": 0.1,
            "csat": 0.03,
            "nps": 0.05,
            "valence": 0.15,
            "relative": 0.1,
        }
    )
    fdr: float = 0.05
    watch_fdr: float = 0.25  # relative and drop: "watch" is a discovery at this rate
    interval: float = INTERVAL


# Student's t through the special functions scipy.stats.t itself calls for these
# (stdtr, stdtrit): the same values, without the distribution object's argument checks
# and broadcasting (~60 µs a call; a report makes hundreds of calls).
def t_cdf(x: float, df: float) -> float:
    return float(special.stdtr(df, x))


def t_sf(x: float, df: float) -> float:
    return float(special.stdtr(df, -x))


def t_ppf(q: float, df: float) -> float:
    return float(special.stdtrit(df, q))


@dataclass(frozen=True, slots=True)
class Estimate:
    """One metric of one cell over its customers: the raw mean, and the shrunk posterior
    with its standard deviation (normal approximation, Student-t tails)."""

    n: int
    mean: float
    posterior: float
    sd: float
    df: float
    se: float = 0.0  # the raw mean's standard error (moderated variance / n); 0: unknown

    def interval(self, level: float = INTERVAL) -> tuple[float, float]:
        half = t_ppf(0.5 + level / 2, self.df) * self.sd
        return self.posterior - half, self.posterior + half

    def below(self, line: float) -> float:
        """Posterior probability that the true value is below `line`."""
        if self.sd <= 0:
            return 1.0 if self.posterior < line else 0.0
        return t_cdf((line - self.posterior) / self.sd, self.df)


@dataclass(frozen=True, slots=True)
class Finding:
    key: CellKey
    metric: str
    rule: Rule
    p: float  # posterior probability that the rule does not hold
    value: float  # the estimate the rule looked at (mean, difference or change)
    low: float  # its interval at the report's level
    high: float
    n: int  # customers in the period
    line: float  # the threshold, −MID or the baseline level the value is compared with
    baseline: float | None = None  # drop: the baseline mean
    n_baseline: int = 0
    discovered: bool = False  # a discovery of the report's FDR procedure
    suggestive: bool = False  # the estimate says "maybe", the evidence does not yet
    window: int = 0  # customers of the period and its baseline the test counted (0: the period's)


@dataclass(frozen=True, slots=True)
class CellVerdict:
    estimates: Mapping[str, Estimate]  # metric → estimate (enough customers only)
    findings: tuple[Finding, ...]  # problem or watch findings, most certain first
    customers: int

    @property
    def problem(self) -> bool:
        return any(f.discovered for f in self.findings)

    @property
    def watch(self) -> bool:
        return not self.problem and any(f.suggestive for f in self.findings)


@dataclass(frozen=True, slots=True)
class Verdicts:
    cells: Mapping[CellKey, CellVerdict]
    tests: int  # p-values that went through the FDR procedure
    settings: Settings

    def get(self, key: CellKey) -> CellVerdict | None:
        return self.cells.get(key)


def moderated_variance(moments: Moments, prior: float) -> tuple[float, float]:
    """(variance, degrees of freedom) with PRIOR_DF customers' worth of `prior`, and never
    below `prior`: five customers who all answered alike are not evidence of certainty."""
    own = moments.variance
    n_minus_1 = max(moments.n - 1, 0)
    if own is None:
        return prior, PRIOR_DF
    moderated = (PRIOR_DF * prior + n_minus_1 * own) / (PRIOR_DF + n_minus_1)
    return max(moderated, prior), PRIOR_DF + n_minus_1


def pooled_variance(cells: Iterable[Moments], default: float, floored: bool = False) -> float:
    """The variance between customers pooled over cells (weighted by n − 1); `floored`:
    at least a tenth of `default`, since a week where every customer answered alike
    (all satisfied, say) does not make the next customer certain."""
    weight = total = 0.0
    for moments in cells:
        variance = moments.variance
        if variance is not None:
            weight += moments.n - 1
            total += (moments.n - 1) * variance
    pooled = total / weight if weight > 0 else default
    return max(pooled, default / 10) if floored else pooled


FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True, slots=True)
class _Priors:
    """Each cell's prior, from the other cells of its level: arrays by cell."""

    mean: FloatArray
    mean_variance: FloatArray  # the uncertainty of the journey-wide mean
    spread: FloatArray  # τ², the variance of true cell means around it


def _others(values: FloatArray) -> FloatArray:
    """Row i: `values` without its i-th, in order (cells × cells − 1)."""
    column = np.arange(len(values) - 1)
    others: FloatArray = values[column + (column >= np.arange(len(values))[:, None])]
    return others


def _priors(means: FloatArray, variances: FloatArray, floor: float) -> _Priors:
    """DerSimonian–Laird over each row's cells: the between-cell variance (at least
    `floor`), then the random-effects mean of the cells. Every row at once, as row sums
    (numpy sums a contiguous row as it sums the row alone, so each prior is the one a
    call per cell gave, to the bit): a report asks for ~750 of them, ~9 µs of numpy's
    call overhead each."""
    v = np.maximum(variances, 1e-12)
    w = 1 / v
    total = np.sum(w, axis=1)
    centre = np.sum(w * means, axis=1) / total
    q = np.sum(w * (means - centre[:, None]) ** 2, axis=1)
    scale = total - np.sum(w * w, axis=1) / total
    with np.errstate(divide="ignore", invalid="ignore"):
        moments = (q - (means.shape[1] - 1)) / scale
    spread = np.where((scale > 0) & (moments > floor), moments, floor)
    # With the spread known, the journey mean and its variance under the random-effects model.
    weights = 1 / (v + spread[:, None])
    precision = np.sum(weights, axis=1)
    return _Priors(np.sum(weights * means, axis=1) / precision, 1 / precision, spread)


def shrink(cells: Mapping[CellKey, Moments], default_variance: float) -> dict[CellKey, Estimate]:
    """Posterior estimates of every cell with at least one customer.

    Each cell's prior comes from the *other* cells (leave one out), so a small cell far from
    the rest cannot widen its own prior and escape shrinkage; the spread between cells is
    at least the between-customer variance over PRIOR_CUSTOMERS, so the journey's level
    counts as that many customers against the cell's own."""
    present = {key: m for key, m in cells.items() if m.n > 0}
    if not present:
        return {}
    prior_variance = pooled_variance(present.values(), default_variance, floored=True)
    moderated = {key: moderated_variance(m, prior_variance) for key, m in present.items()}
    keys = list(present)
    means = np.asarray([float(present[k].mean or 0.0) for k in keys])
    variances = np.asarray([moderated[k][0] / present[k].n for k in keys])
    if len(keys) == 1:  # no other cell to shrink toward
        se = math.sqrt(variances[0])
        own = float(means[0])
        return {keys[0]: Estimate(present[keys[0]].n, own, own, se, moderated[keys[0]][1], se)}
    priors = _priors(_others(means), _others(variances), prior_variance / PRIOR_CUSTOMERS)
    columns = (means.tolist(), variances.tolist(), priors.mean.tolist())
    rows = zip(*columns, priors.mean_variance.tolist(), priors.spread.tolist(), strict=True)
    result = {}
    for key, (mean, variance, prior_mean, mean_variance, spread) in zip(keys, rows, strict=True):
        weight = spread / (spread + variance)
        posterior = prior_mean + weight * (mean - prior_mean)
        sd = math.sqrt(weight * variance + (1 - weight) ** 2 * mean_variance)
        result[key] = Estimate(
            present[key].n, mean, posterior, sd, moderated[key][1], math.sqrt(variance)
        )
    return result


def benjamini_hochberg(p_values: Sequence[float], q: float) -> list[bool]:
    """Which hypotheses the Benjamini–Hochberg step-up procedure rejects at FDR `q`
    (valid for the positively dependent tests of a stage and its touchpoints, PRDS)."""
    if not p_values:
        return []
    adjusted = stats.false_discovery_control(np.asarray(p_values, dtype=float), method="bh")
    return [bool(x <= q) for x in np.atleast_1d(adjusted)]


def conditional_bh(p_values: Sequence[float], q: float, tau: float = CONDITION) -> list[bool]:
    """Benjamini–Hochberg on the p-values at most `tau`, each divided by `tau`
    (Zhao, Small & Su 2019): most of a report's hypotheses are far inside their null
    (a stage well above its threshold) and their p-values are uniformly conservative, so
    counting them in BH's m would only cost power, not protect against false discoveries."""
    kept = [i for i, p in enumerate(p_values) if p <= tau]
    rejected = benjamini_hochberg([p_values[i] / tau for i in kept], q)
    result = [False] * len(p_values)
    for i, decision in zip(kept, rejected, strict=True):
        result[i] = decision
    return result


def _metric_cells(cells: CustomerCells, metric: str) -> dict[CellKey, Moments]:
    result: dict[CellKey, Moments] = {
        (stage, None): figures.metric(metric) for stage, figures in cells.stages.items()
    }
    for (stage, touchpoint), figures in cells.touchpoints.items():
        result[stage, touchpoint] = figures.metric(metric)
    return result


def _by_level(cells: Mapping[CellKey, Moments]) -> list[dict[CellKey, Moments]]:
    """Stages and touchpoints are shrunk apart: a touchpoint toward the touchpoints."""
    stages = {k: m for k, m in cells.items() if k[1] is None}
    touchpoints = {k: m for k, m in cells.items() if k[1] is not None}
    return [stages, touchpoints]


def _estimates(cells: CustomerCells, metric: str) -> dict[CellKey, Estimate]:
    result: dict[CellKey, Estimate] = {}
    for level in _by_level(_metric_cells(cells, metric)):
        result.update(shrink(level, DEFAULT_VARIANCE[metric]))
    return result


def _threshold(
    key: CellKey, metric: str, e: Estimate, s: Settings, window: Estimate | None
) -> Finding:
    """p: the posterior probability of "at or above the threshold" over the period and its
    baseline (`window`, shrunk the same way), as for the relative rule: a cell below the
    owner's line for weeks is told by all of them — a stage rated by the few customers who
    returned something has 20 of them a week. The period's own estimate must still be
    below the line for a problem (`assess`)."""
    line = s.thresholds[metric]
    low, high = e.interval(s.interval)
    pooled = window is not None and window.n > e.n
    evidence = window if pooled and window is not None else e
    p = 1 - evidence.below(line)
    maybe = e.posterior < line or (e.posterior < line + WATCH_MARGIN[metric] and low < line)
    return Finding(key, metric, Rule.THRESHOLD, p, e.posterior, low, high, e.n, line,
                   window=evidence.n if pooled else 0, suggestive=maybe)  # fmt: skip


def _relative(key: CellKey, e: Estimate, s: Settings, window: Estimate | None) -> Finding:
    """The test is the customers' own paired differences (a one-sided t-test of "no
    lower", moderated variance); the shrunk estimate of the period is what must pass the
    minimum difference and what is shown. Testing the shrunk posterior instead pulled a
    cell of 15 customers 40 % of the way back to the journey before asking the evidence.

    The evidence is the period's customers together with the baseline's (`window`): a
    stage worse than the rest of the journey is a standing trait, and a shop with 30
    customers a week has 15 on a stage, too few to tell 0.8 stars from noise among the
    report's tests, while five weeks tell it plainly. The period still decides: a stage
    fixed this week is not flagged for its past, as its own estimate must pass the line.
    Over all the weeks the test asks "worse by at least the minimum difference", not
    "worse at all": hundreds of customers make a stage that is 0.05 stars lower for good
    certain, and every week its few current customers' estimate strays past the line would
    have made it a problem."""
    line = -s.relative_rating
    low, high = e.interval(s.interval)
    pooled = window is not None and window.n > e.n
    evidence = window if pooled and window is not None else e
    null = line if pooled else 0.0
    p = (
        t_sf((null - evidence.mean) / evidence.se, evidence.df)
        if evidence.se > 0
        else 1 - evidence.below(null)
    )
    return Finding(key, "rating", Rule.RELATIVE, p, e.posterior, low, high, e.n, line,
                   window=evidence.n if evidence is window else 0,
                   suggestive=e.posterior < line)  # fmt: skip


def _spread(
    periods: Sequence[Mapping[CellKey, Moments]], default: float, shared: bool = True
) -> PeriodSpread:
    """τ² from the stages' means in the periods before the reported one
    (reports.period_spread). Touchpoints are left out: a bad week of a stage is a bad week
    of its touchpoints too, so they would count the same move again (counted per cell, the
    evidence was four times too much and a healthy shop with good and bad weeks got a false
    drop in 13 % of its weekly reports at 1,000 customers; bench/README.md, quality)."""
    stages = sorted({key for period in periods for key in period if key[1] is None}, key=str)
    means = np.full((len(stages), len(periods)), np.nan)
    sampling = np.zeros_like(means)
    customers: list[Moments] = []
    for row, key in enumerate(stages):
        cells = [(col, p[key]) for col, p in enumerate(periods) if key in p and p[key].n >= 2]
        within = pooled_variance((m for _, m in cells), default, floored=True)
        customers += (m for _, m in cells)
        for col, m in cells:
            means[row, col] = float(m.mean or 0.0)
            sampling[row, col] = within / m.n
    customer_sd = math.sqrt(pooled_variance(customers, default, floored=True))
    return period_spread(means, sampling, customer_sd, shared)


def _drop(
    key: CellKey,
    metric: str,
    now: Moments,
    before: Sequence[Moments],
    s: Settings,
    prior_var: float,
    spread: PeriodSpread,
) -> Finding:
    """Welch's test of "no drop" with the period-to-period spread added to both sides (a
    control chart's limits): the period's mean varies by τ² around the level, the baseline's
    customer-weighted mean by τ² Σ (n_j / N)² (τ²: its posterior mean)."""
    whole = sum(before, Moments())
    var_now, df_now = moderated_variance(now, prior_var)
    var_before, df_before = moderated_variance(whole, prior_var)
    a, b = var_now / now.n, var_before / whole.n
    concentration = sum((m.n / whole.n) ** 2 for m in before)
    c = spread.variance * (1 + concentration)
    se = math.sqrt(a + b + c)
    parts = a * a / df_now + b * b / df_before + (c * c / spread.df if c > 0 else 0.0)
    # Welch–Satterthwaite, τ² with the df of a t mixed over its posterior
    # (reports.period_spread): a τ² the periods cannot pin down weighs as few df.
    df = (a + b + c) ** 2 / parts
    change = float(now.mean or 0.0) - float(whole.mean or 0.0)
    line = -s.drops[metric]
    p = t_sf(-change / se, df)  # P(no drop); the line is asked of the change
    half = t_ppf(0.5 + s.interval / 2, df) * se
    return Finding(key, metric, Rule.DROP, p, change, change - half, change + half, now.n,
                   line, whole.mean, whole.n, suggestive=change < line)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Periods:
    """One metric's cells in the report's period, each baseline period and the periods
    before those (which only tell τ²): read off the customer cells once per metric."""

    now: dict[CellKey, Moments]
    baseline: list[dict[CellKey, Moments]]
    earlier: list[dict[CellKey, Moments]]


def _periods(
    current: CustomerCells,
    baseline: Sequence[CustomerCells],
    earlier: Sequence[CustomerCells],
    metric: str,
) -> _Periods:
    return _Periods(
        _metric_cells(current, metric),
        [_metric_cells(period, metric) for period in baseline],
        [_metric_cells(period, metric) for period in earlier],
    )


def _drops(periods: _Periods, metric: str, s: Settings, spread: PeriodSpread) -> list[Finding]:
    before_cells: dict[CellKey, list[Moments]] = {}
    for period in periods.baseline:
        for key, moments in period.items():
            if moments.n > 0:
                before_cells.setdefault(key, []).append(moments)
    prior_var = pooled_variance(
        [*periods.now.values(), *(m for p in periods.baseline for m in p.values())],
        DEFAULT_VARIANCE[metric],
        floored=True,
    )
    findings = []
    for key, now in periods.now.items():
        before = before_cells.get(key, [])
        if min(now.n, sum(m.n for m in before)) < s.min_customers:
            continue
        findings.append(_drop(key, metric, now, before, s, prior_var, spread))
    return findings


def _metric_spread(periods: _Periods, metric: str) -> PeriodSpread:
    # A relative score is a stage against the same customers' other stages: a shop-wide
    # good or bad week cancels in it.
    return _spread(
        [*periods.earlier, *periods.baseline],
        DEFAULT_VARIANCE[metric],
        shared=metric != "relative",
    )


def _windows(
    history: CustomerCells | None, periods: _Periods, metric: str, spread: PeriodSpread
) -> dict[CellKey, Estimate]:
    """Each cell's estimate over the period and its baseline, its variance widened by the
    periods' own moves: the customers of five weeks know the five weeks' mean, not the
    stage's level, which moves from week to week by τ² (the window's customer-weighted mean
    by τ² Σ (n_j / N)²). Without it a stage that merely had a few bad weeks in a row read
    as a standing trait to the threshold and relative rules."""
    if history is None:
        return {}
    window = _estimates(history, metric)
    if spread.variance <= 0:
        return window
    cells = [periods.now, *periods.baseline]
    result = {}
    for key, e in window.items():
        counts = [p[key].n for p in cells if key in p]
        total = sum(counts)
        added = spread.variance * sum((n / total) ** 2 for n in counts) if total else 0.0
        result[key] = _widened(e, added, spread.df)
    return result


def _widened(e: Estimate, added: float, added_df: float) -> Estimate:
    """`e` with `added` variance of `added_df` degrees of freedom (Welch–Satterthwaite)."""
    se2 = e.se * e.se + added
    sd2 = e.sd * e.sd + added
    parts = (e.se**4 / e.df if e.df > 0 else 0.0) + added * added / added_df
    df = se2 * se2 / parts if parts > 0 else e.df
    return replace(e, sd=math.sqrt(sd2), se=math.sqrt(se2), df=df)


def assess(
    current: CustomerCells,
    baseline: Sequence[CustomerCells],
    settings: Settings,
    earlier: Sequence[CustomerCells] = (),
) -> Verdicts:
    """Every cell's estimates and findings, with one FDR procedure over the whole report;
    `baseline`: the earlier periods of the same length, each on its own (their spread is
    part of the drop test); `earlier`: periods before those, which only tell τ² (the
    spread between periods) — four periods estimate it roughly, and a shop with good and
    bad weeks then sees more false drops than the FDR allows."""
    enough = settings.min_customers
    estimates: dict[CellKey, dict[str, Estimate]] = {}
    findings: list[Finding] = []
    history = sum(baseline, current) if baseline else None
    for metric in METRICS:
        periods = _periods(current, baseline, earlier, metric)
        spread = _metric_spread(periods, metric)
        window = _windows(history, periods, metric, spread)
        for key, estimate in _estimates(current, metric).items():
            if estimate.n < enough:
                continue
            estimates.setdefault(key, {})[metric] = estimate
            findings.append(_threshold(key, metric, estimate, settings, window.get(key)))
        findings += _drops(periods, metric, settings, spread)
    # A stage that fell against the rest of the same customers' visit: their mood cancels,
    # so a fall of one stage shows at a third fewer customers than in its raw rating.
    periods = _periods(current, baseline, earlier, "relative")
    spread = _metric_spread(periods, "relative")
    findings += _drops(periods, "relative", settings, spread)
    window = _windows(history, periods, "relative", spread)
    for key, estimate in _estimates(current, "relative").items():
        if estimate.n >= enough:
            findings.append(_relative(key, estimate, settings, window.get(key)))
    p_values = [f.p for f in findings]
    rejected = conditional_bh(p_values, settings.fdr)
    hinted = conditional_bh(p_values, settings.watch_fdr)
    decided = [
        _decided(f, discovered and _past(f), hint)
        for f, discovered, hint in zip(findings, rejected, hinted, strict=True)
    ]
    return Verdicts(_cells(current, estimates, decided), len(findings), settings)


def _past(finding: Finding) -> bool:
    """The period's own estimate is past the rule's line (below a threshold; at or beyond
    a minimum difference): the evidence may span the baseline, the verdict is this period's."""
    if finding.rule is Rule.THRESHOLD:
        return finding.value < finding.line
    return finding.value <= finding.line


def _decided(finding: Finding, discovered: bool, hinted: bool) -> Finding:
    """`hinted`: a discovery at the looser `watch_fdr`. A threshold finding is "maybe" by
    its estimate (below the line, or near it with the line inside the interval); a relative
    or a drop one also needs that hint of evidence — an estimate past a minimum difference
    of 0.1 star is a coin toss for a cell of 30 customers, and without the hint a third of
    a healthy map's cells read "down 0.1, not yet conclusive" every week."""
    maybe = finding.suggestive and (finding.rule is Rule.THRESHOLD or hinted)
    return Finding(
        finding.key, finding.metric, finding.rule, finding.p, finding.value, finding.low,
        finding.high, finding.n, finding.line, finding.baseline, finding.n_baseline,
        discovered, maybe and not discovered, finding.window,
    )  # fmt: skip


def _cells(
    current: CustomerCells,
    estimates: Mapping[CellKey, Mapping[str, Estimate]],
    findings: Sequence[Finding],
) -> dict[CellKey, CellVerdict]:
    customers: dict[CellKey, CustomerFigures] = {(k, None): f for k, f in current.stages.items()}
    for touchpoint_key, figures in current.touchpoints.items():
        customers[touchpoint_key] = figures
    by_cell: dict[CellKey, list[Finding]] = {}
    for finding in findings:
        if finding.discovered or finding.suggestive:
            by_cell.setdefault(finding.key, []).append(finding)
    return {
        key: CellVerdict(
            estimates.get(key, {}),
            tuple(sorted(by_cell.get(key, []), key=lambda f: (not f.discovered, f.p))),
            figures.customers,
        )
        for key, figures in customers.items()
    }
