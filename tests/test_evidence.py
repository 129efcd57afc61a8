"""The statistics behind the map's verdicts (reports.evidence): reference values from scipy
and published examples, and the behaviour owners rely on — five answers never turn a cell
red, a clear problem does, noise across many cells stays quiet, drops are measured against
a baseline."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from scipy import stats

from reports.customers import CustomerCells, CustomerFigures, Moments
from reports.evidence import (
    PRIOR_CUSTOMERS,
    PRIOR_DF,
    Estimate,
    PeriodSpread,
    Rule,
    _drop,
    _metric_spread,
    _periods,
    assess,
    benjamini_hochberg,
    conditional_bh,
    moderated_variance,
    pooled_variance,
    shrink,
    t_cdf,
    t_ppf,
    t_sf,
)
from tests.support.drops import SETTINGS, drops_found


def moments(scores: Sequence[float]) -> Moments:
    return Moments(len(scores), float(sum(scores)), float(sum(s * s for s in scores)))


def customers(ratings: Sequence[float], relative: Sequence[float] = ()) -> CustomerFigures:
    """A cell whose customers gave these mean ratings (one score per customer)."""
    return CustomerFigures(
        customers=len(ratings),
        rating=moments(ratings),
        csat=moments([1.0 if r >= 4 else 0.0 for r in ratings]),
        relative=moments(relative),
    )


def ratings(rng: np.random.Generator, mean: float, sd: float, n: int) -> list[float]:
    """Whole-star ratings of n customers around `mean`."""
    return np.clip(np.round(rng.normal(mean, sd, n)), 1, 5).tolist()


def journey(stages: dict[str, Sequence[float]]) -> CustomerCells:
    return CustomerCells({name: customers(r) for name, r in stages.items()}, {})


# --- reference values ---------------------------------------------------------------------


def test_moments_give_the_sample_variance_between_customers() -> None:
    scores = [5.0, 4.0, 4.0, 3.0, 2.5]
    m = moments(scores)
    assert m.mean == pytest.approx(np.mean(scores))
    assert m.variance == pytest.approx(np.var(scores, ddof=1))
    assert Moments(1, 4.0, 16.0).variance is None


def test_moderated_variance_adds_prior_customers() -> None:
    # a wide cell: the prior's 1.0 is worth PRIOR_DF customers against its 4 degrees of freedom
    wide = [1.0, 5.0, 1.0, 5.0, 3.0]
    variance, df = moderated_variance(moments(wide), prior=1.0)
    assert variance == pytest.approx((PRIOR_DF * 1.0 + 4 * np.var(wide, ddof=1)) / (PRIOR_DF + 4))
    assert df == PRIOR_DF + 4
    # five identical answers are not certainty: never below the prior
    assert moderated_variance(moments([4.0] * 5), prior=1.0) == (1.0, PRIOR_DF + 4)
    assert moderated_variance(Moments(1, 3.0, 9.0), prior=0.8) == (0.8, PRIOR_DF)


def test_pooled_variance_weights_by_degrees_of_freedom() -> None:
    a, b = [1.0, 2.0, 3.0], [4.0, 4.0, 5.0, 5.0, 6.0]
    expected = (2 * np.var(a, ddof=1) + 4 * np.var(b, ddof=1)) / 6
    assert pooled_variance([moments(a), moments(b), Moments(1, 2.0, 4.0)], 9.9) == (
        pytest.approx(expected)
    )
    assert pooled_variance([], 9.9) == 9.9


def test_estimate_tails_are_student_t() -> None:
    e = Estimate(n=20, mean=3.2, posterior=3.3, sd=0.2, df=23.0)
    assert e.below(3.5) == pytest.approx(stats.t.cdf(1.0, 23.0))
    low, high = e.interval(0.90)
    assert high - 3.3 == pytest.approx(stats.t.ppf(0.95, 23.0) * 0.2)
    assert 3.3 - low == pytest.approx(high - 3.3)


def test_benjamini_hochberg_on_the_published_example() -> None:
    # Benjamini & Hochberg (1995), the 15 p-values of their example: at q = 0.05 the
    # step-up procedure rejects the four smallest.
    p = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240,
         0.4262, 0.5719, 0.6528, 0.7590, 1.0]  # fmt: skip
    rejected = benjamini_hochberg(p, 0.05)
    assert rejected == [True] * 4 + [False] * 11
    # order does not matter
    assert benjamini_hochberg(p[::-1], 0.05) == rejected[::-1]
    assert benjamini_hochberg([], 0.05) == []


def test_shrinkage_is_the_normal_normal_posterior() -> None:
    # Two cells with known variances: the posterior mean is the precision-weighted
    # compromise between the cell and the journey, the weight τ² / (τ² + v).
    cells = {
        ("big", None): moments([4.0, 5.0] * 100),
        ("small", None): moments([2.0, 3.0, 2.0]),
    }
    result = shrink(cells, default_variance=1.0)
    big, small = result["big", None], result["small", None]
    # each cell's prior is the other cell, its spread at the floor σ² / PRIOR_CUSTOMERS,
    # so a cell keeps n / (n + PRIOR_CUSTOMERS) of its distance from the prior
    sigma2 = pooled_variance(cells.values(), 1.0)
    v_big = moderated_variance(cells["big", None], sigma2)[0] / 200
    weight = (sigma2 / PRIOR_CUSTOMERS) / (sigma2 / PRIOR_CUSTOMERS + v_big)
    assert weight == pytest.approx(200 / (200 + PRIOR_CUSTOMERS), abs=0.01)
    assert big.posterior == pytest.approx(7 / 3 + weight * (4.5 - 7 / 3))
    assert 7 / 3 < small.posterior < 4.5  # three customers: pulled toward the journey
    assert small.posterior - 7 / 3 > 4.5 - big.posterior
    assert small.sd > big.sd


# --- behaviour ------------------------------------------------------------------------------


def test_five_low_answers_among_healthy_stages_do_not_make_a_problem() -> None:
    rng = np.random.default_rng(1)
    healthy = {f"s{i}": ratings(rng, 4.3, 0.8, 60) for i in range(6)}
    verdicts = assess(journey({**healthy, "tiny": [2, 2, 3, 2, 2]}), (), SETTINGS)
    tiny = verdicts.get(("tiny", None))
    assert tiny is not None and tiny.customers == 5
    assert not tiny.problem
    assert tiny.estimates["rating"].posterior > 2.2  # shrunk toward the journey


def test_a_clear_problem_is_a_problem_with_its_interval() -> None:
    rng = np.random.default_rng(2)
    stages = {f"s{i}": ratings(rng, 4.3, 0.8, 80) for i in range(5)}
    stages["queue"] = ratings(rng, 2.8, 0.8, 80)
    verdicts = assess(journey(stages), (), SETTINGS)
    queue = verdicts.get(("queue", None))
    assert queue is not None and queue.problem
    finding = next(f for f in queue.findings if f.metric == "rating")
    assert finding.rule is Rule.THRESHOLD and finding.discovered
    assert finding.low < finding.value < finding.high < 3.5
    assert not any(verdicts.cells[f"s{i}", None].problem for i in range(5))


def test_noise_over_many_cells_stays_quiet() -> None:
    # 200 healthy reports of 20 stages at 4.3 ± 1 with 30 customers each: the FDR
    # procedure keeps the share with any false problem cell near zero
    rng = np.random.default_rng(3)
    false = 0
    for _ in range(200):
        stages = {f"s{i}": ratings(rng, 4.3, 1.0, 30) for i in range(20)}
        verdicts = assess(journey(stages), (), SETTINGS)
        false += any(v.problem for v in verdicts.cells.values())
    assert false <= 10


def test_a_stage_worse_than_the_same_customers_other_answers_is_flagged() -> None:
    # above every absolute threshold, but 0.6 stars below the same customers' other answers
    rng = np.random.default_rng(4)
    cells = CustomerCells(
        {
            "visit": customers(
                ratings(rng, 4.0, 0.5, 300),
                relative=rng.normal(-0.6, 0.6, 300).tolist(),
            ),
            "pay": customers(
                ratings(rng, 4.5, 0.5, 300),
                relative=rng.normal(0.3, 0.6, 300).tolist(),
            ),
        },
        {},
    )
    verdicts = assess(cells, (), SETTINGS)
    visit = verdicts.cells["visit", None]
    assert visit.problem
    assert {f.rule for f in visit.findings if f.discovered} == {Rule.RELATIVE}
    assert not verdicts.cells["pay", None].problem


def test_a_drop_is_measured_against_the_baseline_with_a_minimum_effect() -> None:
    rng = np.random.default_rng(5)

    def week(mean: float, n: int) -> list[float]:
        return ratings(rng, mean, 0.7, n)

    baseline = [journey({"visit": week(4.6, 600), "pay": week(4.5, 600)}) for _ in range(4)]
    dropped = assess(journey({"visit": week(3.9, 150), "pay": week(4.5, 150)}), baseline,
                     SETTINGS)  # fmt: skip
    visit = dropped.cells["visit", None]
    drop = next(f for f in visit.findings if f.rule is Rule.DROP and f.metric == "rating")
    assert drop.discovered and drop.baseline == pytest.approx(4.5, abs=0.1)
    assert not any(
        f.rule is Rule.DROP and f.discovered for f in dropped.cells["pay", None].findings
    )
    # a change smaller than the minimum drop is not a problem, however many customers
    tiny = assess(journey({"visit": week(4.5, 5000)}), [journey({"visit": week(4.6, 5000)})],
                  SETTINGS)  # fmt: skip
    assert not tiny.cells["visit", None].problem


def test_drop_p_value_is_welchs_test_for_large_samples() -> None:
    # with thousands of customers the moderated variance is the sample variance, so with no
    # spread between periods the drop's p-value is Welch's one-sided test of "no drop"; the
    # minimum drop is asked of the estimate (a discovery must also be past it)
    rng = np.random.default_rng(6)
    now = rng.normal(4.0, 0.85, 3000)
    before = rng.normal(4.2, 0.85, 4000)
    finding = _drop(("a", None), "rating", moments(now.tolist()), [moments(before.tolist())],
                    SETTINGS, 0.7, PeriodSpread())  # fmt: skip
    reference = stats.ttest_ind(now, before, equal_var=False, alternative="less").pvalue
    assert finding.p == pytest.approx(float(reference), rel=0.02)
    assert math.isclose(finding.value, now.mean() - before.mean())
    # the spread between periods widens it as a known variance would (a normal's p with the
    # period's and the baseline's τ² added to Welch's variance, when τ² is certain)
    spread = PeriodSpread(0.002, 0.0)
    widened = _drop(("a", None), "rating", moments(now.tolist()), [moments(before.tolist())],
                    SETTINGS, 0.7, spread)  # fmt: skip
    se = math.sqrt(now.var(ddof=1) / 3000 + before.var(ddof=1) / 4000 + 0.002 * 2)
    assert widened.p == pytest.approx(float(stats.norm.sf(-widened.value / se)), rel=0.05)


def weeks(
    rng: np.random.Generator,
    stages: int,
    periods: int,
    n: int,
    spread: float,
    drop: float = 0.0,
    touchpoints: int = 0,
) -> tuple[CustomerCells, list[CustomerCells]]:
    """A shop whose every stage has good and bad weeks: each week's true mean is 4.2 plus
    N(0, spread²), its n customers N(week, 0.9²) around it; the last week is the report's,
    its first stage `drop` stars lower. Each stage's `touchpoints` are rated by a third of
    its customers each, their own score 0.5 star apart from the stage's: a stage's bad
    week is its touchpoints' too."""

    def figures(scores: np.ndarray) -> CustomerFigures:
        rating = Moments(len(scores), float(scores.sum()), float((scores * scores).sum()))
        return CustomerFigures(customers=len(scores), rating=rating)

    def cells(shift: float) -> CustomerCells:
        result, parts = {}, {}
        for stage in range(stages):
            level = 4.2 + rng.normal(0, spread) - (shift if stage == 0 else 0.0)
            scores = rng.normal(level, 0.9, n)
            result[f"s{stage}"] = figures(scores)
            for t in range(touchpoints):
                some = scores[: n // 3]
                parts[f"s{stage}", f"t{t}"] = figures(some + rng.normal(0, 0.5, len(some)))
        return CustomerCells(result, parts)

    baseline = [cells(0.0) for _ in range(periods)]
    return cells(drop), baseline


def test_ordinary_weeks_of_a_big_shop_are_not_drops_the_spread_between_weeks_counts() -> None:
    # 1,000 customers a week know a week's mean to ±0.03 stars, but the shop's weeks differ
    # by 0.15 stars on their own: the drop test asks "lower than the weeks usually are", so a
    # healthy week is a false drop about as rarely as the report's FDR allows, where a test
    # of the customers alone (Welch's, the four weeks given as one, Bonferroni over the
    # six stages) cries wolf most weeks
    rng = np.random.default_rng(11)
    with_spread = without = 0
    for _ in range(200):
        now, baseline = weeks(rng, stages=6, periods=4, n=1000, spread=0.15)
        with_spread += bool(drops_found(now, baseline))
        without += welch_finds_a_drop(now, sum(baseline, CustomerCells()), 0.05 / 6)
    assert with_spread / 200 <= 0.09
    assert without / 200 >= 0.3


def welch_finds_a_drop(now: CustomerCells, before: CustomerCells, alpha: float) -> bool:
    for stage, figures in now.stages.items():
        a, b = figures.rating, before.stages[stage].rating
        p = stats.ttest_ind_from_stats(
            a.mean,
            math.sqrt(a.variance or 0.0),
            a.n,
            b.mean,
            math.sqrt(b.variance or 0.0),
            b.n,
            equal_var=False,
            alternative="less",
        ).pvalue
        if p < alpha:
            return True
    return False


def test_a_real_drop_still_shows_above_the_spread_between_weeks() -> None:
    rng = np.random.default_rng(12)
    found = 0
    for _ in range(100):
        now, baseline = weeks(rng, stages=6, periods=4, n=1000, spread=0.15, drop=0.8)
        found += "s0" in drops_found(now, baseline)
    assert found / 100 >= 0.8


def test_a_stage_and_its_touchpoints_are_one_replicate_of_the_weeks_spread() -> None:
    # Six stages with three touchpoints each and good and bad weeks of ±0.1 star: a stage's
    # bad week is its touchpoints' too. Counted per cell (24 cells, their df summed), τ²'s
    # evidence was four times too much and healthy weeks were drops in 5–7 % of reports at
    # 300 customers; the touchpoints now tell τ² nothing the stages have not.
    rng = np.random.default_rng(11)
    false = 0
    for _ in range(300):
        now, baseline = weeks(rng, stages=6, periods=4, n=300, spread=0.1, touchpoints=3)
        false += bool(drops_found(now, baseline))
    assert false / 300 <= 0.04
    now, baseline = weeks(rng, stages=6, periods=4, n=300, spread=0.1, touchpoints=3)
    stages_only = [CustomerCells(period.stages, {}) for period in baseline]
    with_touchpoints = _metric_spread(_periods(now, baseline, (), "rating"), "rating")
    assert with_touchpoints == _metric_spread(_periods(now, stages_only, (), "rating"), "rating")
    assert with_touchpoints.variance > 0


def test_periods_before_the_baseline_tell_the_spread_between_weeks() -> None:
    # Four baseline weeks that happen to be alike say τ² ≈ 0, and a week 0.3 star lower
    # at 1,000 customers is a drop; the shop's four weeks before them moved by ±0.4 star,
    # and with them in τ²'s estimate the same week is an ordinary one.
    def week(level: float) -> CustomerCells:
        scores = np.random.default_rng(int(level * 100)).normal(0.0, 0.9, 1000)
        scores = scores - scores.mean() + level  # the mean exactly `level`
        rating = Moments(1000, float(scores.sum()), float((scores * scores).sum()))
        return CustomerCells({"s0": CustomerFigures(customers=1000, rating=rating)})

    baseline = [week(4.2), week(4.21), week(4.19), week(4.2)]
    earlier = [week(4.6), week(3.8), week(4.5), week(3.9)]
    now = week(3.9)

    assert drops_found(now, baseline) == {"s0"}
    verdicts = assess(now, baseline, SETTINGS, earlier)
    assert not any(
        f.rule is Rule.DROP and f.discovered for f in verdicts.cells["s0", None].findings
    )


def test_conditional_bh_drops_conservative_nulls_only() -> None:
    # two real effects among forty hypotheses far inside their null (p near 1): plain BH
    # counts all 42 and finds nothing; conditioned on p ≤ 0.5 it tests two, rescaled
    p = [0.004, 0.02] + [0.9] * 40
    assert not any(benjamini_hochberg(p, 0.05))
    assert conditional_bh(p, 0.05) == [True, True] + [False] * 40
    # uniform noise stays quiet: under the null, p | p ≤ 0.5 is uniform again
    rng = np.random.default_rng(7)
    false = sum(any(conditional_bh(rng.uniform(size=40).tolist(), 0.05)) for _ in range(2000))
    assert false / 2000 < 0.07


def small_week(rng: np.random.Generator, visit: float, n: int = 15) -> CustomerCells:
    """A week of a small shop: 15 customers a stage, "visit" `visit` stars worse than the
    other four stages of the same customers' journey."""
    stages = {}
    for name in ("visit", "order", "pay", "wait", "eat"):
        shift = visit if name == "visit" else 0.0
        rated = np.clip(np.round(rng.normal(4.1 - shift, 0.8, n)), 1, 5)
        relative = rng.normal(0.2 - 1.2 * shift, 0.9, n)
        stages[name] = customers(rated.tolist(), relative.tolist())
    return CustomerCells(stages, {})


def relative_found(now: CustomerCells, baseline: Sequence[CustomerCells]) -> bool:
    cell = assess(now, baseline, SETTINGS).cells["visit", None]
    return any(f.rule is Rule.RELATIVE and f.discovered for f in cell.findings)


def test_a_standing_relative_problem_of_a_small_shop_is_told_by_all_its_weeks() -> None:
    # 15 customers a week on the stage: this week alone often cannot tell 0.8 stars from
    # the report's noise; with the four weeks before (75 customers) it can
    rng = np.random.default_rng(21)
    with_weeks = alone = 0
    for _ in range(100):
        baseline = [small_week(rng, 0.8) for _ in range(4)]
        now = small_week(rng, 0.8)
        with_weeks += relative_found(now, baseline)
        alone += relative_found(now, ())
    assert with_weeks >= 85
    assert alone <= 80


def test_a_stage_fixed_this_week_is_not_flagged_for_its_past() -> None:
    rng = np.random.default_rng(22)
    flagged = sum(
        relative_found(small_week(rng, 0.0), [small_week(rng, 0.8) for _ in range(4)])
        for _ in range(100)
    )
    assert flagged <= 5


def test_the_relative_finding_counts_the_customers_of_its_weeks() -> None:
    rng = np.random.default_rng(23)
    cell = assess(small_week(rng, 0.8), [small_week(rng, 0.8) for _ in range(4)], SETTINGS)
    relative = next(f for f in cell.cells["visit", None].findings if f.rule is Rule.RELATIVE)
    assert (relative.n, relative.window) == (15, 75)


def test_a_stage_a_little_lower_for_good_is_not_a_problem_however_many_weeks() -> None:
    # "visit" is 0.1 stars below the same customers' other ratings, week after week: less
    # than the minimum difference (0.15). Five weeks of 60 customers make that certain, so
    # the test over all the weeks asks for the minimum difference itself — otherwise every
    # week whose own estimate strayed past −0.15 would paint the stage red
    rng = np.random.default_rng(31)
    flagged = sum(
        relative_found(small_week(rng, 0.25, 60), [small_week(rng, 0.25, 60) for _ in range(4)])
        for _ in range(200)
    )
    assert flagged <= 4


def drop_watch_cells(now: CustomerCells, baseline: Sequence[CustomerCells]) -> set[str]:
    verdicts = assess(now, baseline, SETTINGS)
    return {
        key[0]
        for key, cell in verdicts.cells.items()
        if cell.watch and any(f.rule is Rule.DROP for f in cell.findings)
    }


def test_a_healthy_small_shop_is_not_a_wall_of_maybe_drops() -> None:
    # 30 customers a week on each of 6 stages: a week's estimate falls past the minimum
    # drop (0.1 star) for a third of the cells by chance alone; "watch" needs a hint of
    # evidence (a discovery at watch_fdr), so most healthy weeks show no maybe-drop at all
    rng = np.random.default_rng(41)
    cells = weeks_with_watch = 0
    for _ in range(200):
        now, baseline = weeks(rng, stages=6, periods=4, n=30, spread=0.0)
        watched = drop_watch_cells(now, baseline)
        cells += len(watched)
        weeks_with_watch += bool(watched)
    assert cells / (200 * 6) <= 0.05
    assert weeks_with_watch / 200 <= 0.3


def test_a_drop_with_some_evidence_is_watched_before_it_is_a_problem() -> None:
    # 0.4 star at 30 customers a week: rarely proven, often worth watching (four weeks of
    # history cannot rule out that the shop's weeks move by a tenth of a star: a little
    # less often than when τ² was taken for 0 whenever its estimate came out so, 55 %)
    rng = np.random.default_rng(42)
    watched = proven = 0
    for _ in range(200):
        now, baseline = weeks(rng, stages=6, periods=4, n=30, spread=0.0, drop=0.4)
        watched += "s0" in drop_watch_cells(now, baseline)
        proven += "s0" in drops_found(now, baseline)
    assert watched / 200 >= 0.2
    assert (watched + proven) / 200 >= 0.45


def moody_week(rng: np.random.Generator, n: int, fall: float = 0.0) -> CustomerCells:
    """n customers rating five stages: each has a mood (0.7 star) shared by their ratings and
    an experience of each stage (0.5 star); "visit" is `fall` stars lower this week."""
    names = ("visit", "order", "pay", "wait", "eat")
    mood = rng.normal(0, 0.7, n)
    scores = np.stack(
        [4.1 + mood + rng.normal(0, 0.5, n) - (fall if name == "visit" else 0.0) for name in names]
    )
    stages = {}
    for i, name in enumerate(names):
        others = (scores.sum(axis=0) - scores[i]) / (len(names) - 1)
        stages[name] = CustomerFigures(
            customers=n, rating=moments(scores[i].tolist()),
            relative=moments((scores[i] - others).tolist()),
        )  # fmt: skip
    return CustomerCells(stages, {})


def test_a_stage_that_fell_against_the_rest_of_the_visit_shows_sooner_than_in_its_rating() -> None:
    # the customers' mood is most of a rating's spread; against their other ratings it
    # cancels, so the fall of one stage is told by fewer customers
    rng = np.random.default_rng(51)
    by_relative = by_rating = 0
    for _ in range(200):
        baseline = [moody_week(rng, 40) for _ in range(4)]
        cell = assess(moody_week(rng, 40, fall=0.5), baseline, SETTINGS).cells["visit", None]
        found = {f.metric for f in cell.findings if f.rule is Rule.DROP and f.discovered}
        by_relative += "relative" in found
        by_rating += "rating" in found
    assert by_relative / 200 >= 0.95  # 98 % with these seeds
    assert by_rating / 200 <= 0.85  # 75 %


def rated_week(rng: np.random.Generator, visit: float, n: int) -> CustomerCells:
    """Ratings only (no other ratings the same day to compare with): "visit" averages
    `visit` stars, four other stages 4.2, n customers each."""
    stages = {
        name: customers(ratings(rng, 4.2, 0.8, n)) for name in ("order", "pay", "wait", "eat")
    }
    return CustomerCells({"visit": customers(ratings(rng, visit, 0.8, n)), **stages}, {})


def threshold_found(now: CustomerCells, baseline: Sequence[CustomerCells]) -> bool:
    cell = assess(now, baseline, SETTINGS).cells["visit", None]
    return any(f.rule is Rule.THRESHOLD and f.discovered for f in cell.findings)


def test_a_standing_shortfall_below_the_threshold_is_told_by_all_its_weeks() -> None:
    # a stage rated by 12 customers a week (those who returned something), at 3.1 stars
    # against the owner's 3.5: one week is too few to be sure, five weeks are not
    rng = np.random.default_rng(61)
    with_weeks = alone = fixed = 0
    for _ in range(100):
        baseline = [rated_week(rng, 3.1, 12) for _ in range(4)]
        with_weeks += threshold_found(rated_week(rng, 3.1, 12), baseline)
        alone += threshold_found(rated_week(rng, 3.1, 12), ())
        fixed += threshold_found(rated_week(rng, 4.2, 12), baseline)
    assert with_weeks >= 80
    assert alone <= 60
    # fixed this week (4.2 stars): flagged only when this week's own estimate is below a
    # line too — with 12 customers a CSAT of 80 % reads under 70 % now and then (6 of 100)
    assert fixed <= 10


@pytest.mark.parametrize("df", [1.0, 2.5, PRIOR_DF, 7.0, 48.3, 150.0, 1e4, 1e9])
def test_student_t_is_scipys_to_the_last_bit(df: float) -> None:
    """The report's t distribution (the special functions, without scipy.stats' object)
    gives exactly scipy.stats.t's values, so no p-value or interval moves."""
    for x in (-40.0, -3.1, -1.0, -1e-9, 0.0, 0.37, 1.645, 2.9, 12.0, math.inf, -math.inf):
        assert t_cdf(x, df) == float(stats.t.cdf(x, df))
        assert t_sf(x, df) == float(stats.t.sf(x, df))
    for q in (1e-6, 0.05, 0.5, 0.9, 0.95, 0.975, 0.999999):
        assert t_ppf(q, df) == float(stats.t.ppf(q, df))
