from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from reports.figures import Figures
from reports.flags import Flag, KeyStage, Level, flag, key_stages, previous_period
from reports.stats import (
    bounded_squares,
    incomplete_beta,
    mean_drop_p,
    nps_change_significant,
    pearson,
    proportion_drop_p,
    proportion_drop_significant,
    t_cdf,
    t_quantile,
    t_two_sided_p,
    two_proportion_z,
    welch_t,
    wilson_interval,
)
from reports.words import answers, language
from surveys.model import Thresholds

THRESHOLDS = Thresholds()  # rating 3.5, CSAT 70 %, NPS 0, valence 0, min_responses 5


def figures(
    ratings: Sequence[int] = (),
    nps: Sequence[int] = (),
    valences: Sequence[int] = (),
) -> Figures:
    """The sums the database would return for these raw answers."""
    return Figures(
        answers=len(ratings) + len(nps) + len(valences),
        ratings=len(ratings),
        rating_sum=sum(ratings),
        rating_squares=sum(r * r for r in ratings),
        satisfied=sum(r >= 4 for r in ratings),
        nps_answers=len(nps),
        promoters=sum(s >= 9 for s in nps),
        detractors=sum(s <= 6 for s in nps),
        valence_answers=len(valences),
        valence_sum=sum(valences),
    )


# --- statistics --------------------------------------------------------------------------


def test_wilson_interval_known_values() -> None:
    # 41/50: p = 0.82, z² = 3.8416, z²/n = 0.076832, denominator 1.076832
    # centre = (0.82 + 0.038416) / 1.076832 = 0.797168
    # half = 1.96 / 1.076832 × √(0.82·0.18/50 + 3.8416/10000) = 1.820154 × 0.057760 = 0.105131
    low, high = wilson_interval(41, 50)
    assert low == pytest.approx(0.692037, abs=1e-5)
    assert high == pytest.approx(0.902299, abs=1e-5)
    # 0/10: centre = half = 0.19208 / 1.38416 = 0.138771 → (0, 0.277540)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.277540), abs=1e-5)
    # symmetric: 10/10 mirrors 0/10
    assert wilson_interval(10, 10) == pytest.approx((1 - 0.277540, 1.0), abs=1e-5)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="between 0 and n"):
        wilson_interval(6, 5)


def test_two_proportion_z_test() -> None:
    # 36/50 = 72 % before, 20/50 = 40 % now; pooled 56/100 = 0.56
    # SE = √(0.56 · 0.44 · (1/50 + 1/50)) = √0.009856 = 0.099277; z = −0.32 / 0.099277 = −3.2233
    assert two_proportion_z(36, 50, 20, 50) == pytest.approx(-3.2233, abs=1e-4)
    assert proportion_drop_p(36, 50, 20, 50) == pytest.approx(0.001267, abs=1e-5)
    assert proportion_drop_significant(36, 50, 20, 50)
    assert not proportion_drop_significant(20, 50, 36, 50)  # a rise is no drop
    assert not proportion_drop_significant(6, 6, 5, 6)  # one fewer of six: could be chance
    assert two_proportion_z(5, 5, 5, 5) == 0.0  # no variance at all


def test_welch_t_by_hand() -> None:
    # before: 1, 2, 3, 4, 5 → n 5, sum 15, squares 55, mean 3, variance (55 − 45)/4 = 2.5
    # now: 4, 4, 5, 5 → n 4, sum 18, squares 82, mean 4.5, variance (82 − 81)/3 = 1/3
    # SE² = 2.5/5 + (1/3)/4 = 7/12; t = 1.5 / √(7/12) = 1.963961
    # df = (7/12)² / ((1/2)²/4 + (1/12)²/3) = (49/144) / (7/108) = 5.25
    t, df = welch_t(5, 15, 55, 4, 18, 82)
    assert t == pytest.approx(1.963961, abs=1e-6)
    assert df == pytest.approx(5.25)
    assert mean_drop_p(5, 15, 55, 4, 18, 82) == pytest.approx(t_two_sided_p(t, df))
    # no variance: equal means give t = 0, different ones an infinite t
    assert welch_t(3, 12, 48, 3, 12, 48) == (0.0, 4.0)
    t_inf, _ = welch_t(3, 15, 75, 3, 12, 48)
    assert t_inf == -math.inf
    assert t_two_sided_p(t_inf, 4) == 0.0
    with pytest.raises(ValueError, match="at least two"):
        welch_t(1, 5, 25, 3, 12, 48)


@pytest.mark.parametrize(
    ("df", "critical"),
    [(1, 12.706), (2, 4.303), (5, 2.571), (10, 2.228), (30, 2.042), (math.inf, 1.960)],
)
def test_t_critical_values_match_the_tables(df: float, critical: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(critical, abs=5e-4)
    assert t_two_sided_p(critical, df) == pytest.approx(0.05, abs=2e-4)
    assert t_quantile(0.025, df) == pytest.approx(-critical, abs=5e-4)


def test_t_distribution_closed_forms() -> None:
    for t in (0.0, 0.3, 1.0, 2.5, 10.0):
        # df = 1 is the Cauchy distribution: P(|T| ≥ t) = 1 − 2·atan(t)/π
        assert t_two_sided_p(t, 1) == pytest.approx(1 - 2 * math.atan(t) / math.pi, abs=1e-12)
        # df = 2: P(|T| ≥ t) = 1 − t/√(t² + 2)
        assert t_two_sided_p(t, 2) == pytest.approx(1 - t / math.sqrt(t * t + 2), abs=1e-12)
    assert t_cdf(0.0, 7.5) == pytest.approx(0.5)
    assert t_cdf(-2.228, 10) == pytest.approx(0.025, abs=1e-4)
    # a huge df is the normal distribution
    assert t_two_sided_p(1.96, 1e7) == pytest.approx(0.049996, abs=1e-5)


def test_incomplete_beta_identities() -> None:
    for x in (0.0, 0.1, 0.37, 0.5, 0.9, 1.0):
        assert incomplete_beta(1, 1, x) == pytest.approx(x)  # uniform
        assert incomplete_beta(3, 1, x) == pytest.approx(x**3)  # I_x(a, 1) = xᵃ
    assert incomplete_beta(4.5, 4.5, 0.5) == pytest.approx(0.5)  # symmetry


def test_nps_change_significance_from_the_margins() -> None:
    # margins 10 and 10: the difference must exceed √(10² + 10²) = 14.14 points
    assert nps_change_significant(30, 10, 15, 10)
    assert not nps_change_significant(30, 10, 16, 10)
    assert nps_change_significant(100, 0, 90, 0)  # no uncertainty on either side


def test_pearson_from_sums() -> None:
    # x 1…5, y 2, 4, 5, 4, 5: Σx 15, Σy 20, Σx² 55, Σy² 86, Σxy 66
    # r = (5·66 − 15·20) / √((5·55 − 225)(5·86 − 400)) = 30 / √(50 · 30) = √0.6 = 0.774597
    assert pearson(5, 15, 20, 55, 86, 66) == pytest.approx(math.sqrt(0.6))
    # y = 6 − x: a perfect negative correlation
    assert pearson(5, 15, 15, 55, 55, 35) == pytest.approx(-1.0)
    assert pearson(3, 6, 9, 12, 29, 18) is None  # x is constant: 2, 2, 2
    assert pearson(1, 3, 4, 9, 16, 12) is None


def test_bounded_squares_bound_the_variance() -> None:
    # ten values in −2…+2 summing to 0 have at most Σx² = 10 · 4 (all at ±2)
    assert bounded_squares(10, 0, -2, 2) == pytest.approx(40)
    values = [-2, -1, 0, 0, 1, 2, 2, 1]
    assert sum(v * v for v in values) <= bounded_squares(len(values), sum(values), -2, 2)


# --- flags -------------------------------------------------------------------------------


def test_planted_problem_stage_is_flagged_with_its_reasons() -> None:
    # ratings 5 4 4 3 3 3 3 3 2 2: average 3.2, CSAT 3/10
    result = flag(figures([5, 4, 4, 3, 3, 3, 3, 3, 2, 2]), None, THRESHOLDS)
    assert result.level is Level.PROBLEM
    assert result.reasons == ("average rating 3.2 < 3.5, n=10", "CSAT 30% < 70%, n=10")
    assert result.sentence == "average rating 3.2 < 3.5, n=10; CSAT 30% < 70%, n=10"


def test_csat_below_threshold_and_significantly_down() -> None:
    # now 22 of 41 satisfied (54 %), last week 72 of 100 (72 %): z = −2.10, p = 0.036.
    # The average rating rose (4.07 against 3.72), so only CSAT is a problem.
    now = figures([5] * 22 + [3] * 19)
    before = figures([4] * 72 + [3] * 28)
    result = flag(now, before, THRESHOLDS)
    assert result == Flag(
        Level.PROBLEM, ("CSAT 54% < 70%, n=41, down 18 pts from last week (significant)",)
    )


def test_significant_drop_alone_is_a_problem() -> None:
    # now 4 fives and 31 fours (4.11), last week 24 fives and 16 fours (4.6): both above 3.5
    # but t ≈ −5.1 (Welch), far beyond chance. CSAT is 100 % in both periods.
    now = figures([5] * 4 + [4] * 31)
    before = figures([5] * 24 + [4] * 16)
    result = flag(now, before, THRESHOLDS, period_name="last month")
    assert result.level is Level.PROBLEM
    assert result.reasons == (
        "average rating 4.1, down from 4.6 last month (Welch's t, p<0.001, n=35 vs 40)",
    )


def test_small_sample_drop_is_not_a_problem() -> None:
    # 4.8 → 4.2 on five answers each: variances 0.2, t = −0.6/√0.08 = −2.12, df 8, p = 0.067
    now = figures([4, 5, 4, 4, 4])
    before = figures([5, 5, 5, 5, 4])
    result = flag(now, before, THRESHOLDS)
    assert result.level is Level.WATCH
    assert result.reasons == (
        "average rating 4.2, down from 4.8 last week "
        "(not significant: Welch's t, p=0.067, n=5 vs 5)",
    )


def test_small_drop_of_a_healthy_stage_is_ok() -> None:
    now = figures([5] * 19 + [4] * 21)
    before = figures([5] * 20 + [4] * 20)
    assert flag(now, before, THRESHOLDS) == Flag(
        Level.OK, ("average rating 4.5, CSAT 100%, n=40",)
    )


def test_healthy_stage_is_ok_with_a_short_reason() -> None:
    result = flag(figures([5] * 20 + [4] * 20, nps=[10] * 20 + [8] * 10), None, THRESHOLDS)
    assert result.level is Level.OK
    # NPS 20/30 = 66.7; P = 2/3, D = 0: SE = √((2/3 − 4/9)/30) = 0.0861, margin 16.9
    assert result.sentence == "average rating 4.5, CSAT 100%, n=40; NPS 67 (±17), n=30"


def test_below_min_responses_is_not_enough_data() -> None:
    # 4 ratings of 1 would be a problem, but four answers are too few to tell
    assert flag(figures([1, 1, 1, 1], nps=[0, 0, 0]), None, THRESHOLDS) == Flag(
        Level.NOT_ENOUGH_DATA, ("not enough data: 4 ratings, 3 NPS answers (5 needed)",)
    )
    assert flag(Figures(), None, THRESHOLDS).sentence == (
        "not enough data: no scored answers (5 needed)"
    )
    strict = Thresholds(min_responses=50)
    assert flag(figures([5] * 40), None, strict).level is Level.NOT_ENOUGH_DATA


def test_previous_period_below_min_responses_is_not_compared() -> None:
    now = figures([4] * 10)
    before = figures([5, 5, 5, 5])  # only four answers last week
    assert flag(now, before, THRESHOLDS).level is Level.OK


def test_close_to_threshold_is_watch() -> None:
    # ratings 4×8, 3, 2: average 3.7 (0.2 above 3.5), CSAT 80 % (10 pts above 70 %)
    result = flag(figures([4] * 8 + [3, 2]), None, THRESHOLDS)
    assert result == Flag(Level.WATCH, ("average rating 3.7, close to 3.5, n=10",))


def test_nps_and_mood_problems_use_real_minus_signs() -> None:
    # NPS: 8 promoters, 12 detractors of 30 → −13.3; P = 0.267, D = 0.4:
    # SE = √((0.667 − 0.0178)/30) = 0.1471, margin 28.8
    result = flag(
        figures(nps=[10] * 8 + [7] * 10 + [3] * 12, valences=[-1] * 20), None, THRESHOLDS
    )
    assert result.level is Level.PROBLEM
    assert result.reasons == ("NPS −13 (±29) < 0, n=30", "mood −1.0 < 0, n=20")


def test_values_just_below_a_threshold_do_not_read_as_equal() -> None:
    # 3.49 would read "3.5 < 3.5" with one decimal
    result = flag(figures([4] * 49 + [3] * 51), None, THRESHOLDS)
    assert result.reasons == ("average rating 3.49 < 3.5, n=100", "CSAT 49% < 70%, n=100")


def test_problem_outranks_watch_and_keeps_only_its_reasons() -> None:
    # rating 3.7 is watch, CSAT 60 % a problem
    result = flag(figures([5] * 3 + [4] * 3 + [3] * 3 + [2]), None, THRESHOLDS)
    assert result == Flag(Level.PROBLEM, ("CSAT 60% < 70%, n=10",))


def test_nps_drop_is_tested_on_the_margins() -> None:
    # 40 promoters of 40 (NPS 100, margin 0) → 20 promoters and 20 passives (NPS 50, margin 15.5)
    now = figures(nps=[10] * 20 + [8] * 20)
    before = figures(nps=[10] * 40)
    result = flag(now, before, THRESHOLDS)
    assert result.level is Level.PROBLEM
    assert result.sentence.startswith("NPS 50 (±15), down 50 pts from last week (z-test")


def test_mood_drop_uses_a_conservative_test() -> None:
    # mean valence 1.75 → 0.5 on 20 answers each
    now = figures(valences=[1] * 10 + [0] * 10)
    before = figures(valences=[2] * 15 + [1] * 5)
    result = flag(now, before, THRESHOLDS)
    assert result.level is Level.PROBLEM
    assert result.sentence.startswith("mood 0.5, down from 1.8 last week (Welch's t with bounded")


# --- key stages --------------------------------------------------------------------------


def test_key_stages_rank_by_strength_with_sample_sizes() -> None:
    ranked = key_stages(
        {
            "Support": (40, 0.10),
            "Payment": (6, 0.90),
            "Onboarding": (30, None),
            "Retention": (48, 0.62),
            "Delivery": (50, -0.71),
        }
    )
    assert [stage.stage for stage in ranked] == [
        "Delivery",
        "Retention",
        "Support",
        "Payment",
        "Onboarding",
    ]
    assert [stage.sentence for stage in ranked] == [
        "Delivery: r = −0.71 with NPS, n = 50",
        "Retention: r = 0.62 with NPS, n = 48",
        "Support: r = 0.10 with NPS, n = 40",
        "Payment: r = 0.90 with NPS, n = 6 — too few to tell",
        "Onboarding: r not available (answers do not vary), n = 30",
    ]
    assert ranked[3] == KeyStage("Payment", 6, 0.90)
    assert ranked[3].too_few
    assert not ranked[0].too_few
    assert key_stages({}) == []


# --- in Russian --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, "1 ответ"),
        (2, "2 ответа"),
        (4, "4 ответа"),
        (5, "5 ответов"),
        (11, "11 ответов"),
        (12, "12 ответов"),
        (21, "21 ответ"),
        (22, "22 ответа"),
        (111, "111 ответов"),
        (0, "0 ответов"),
    ],
)
def test_russian_plural_of_answers(n: int, expected: str) -> None:
    assert answers(n, "ru") == expected
    assert answers(n, "en") == (f"{n} answer" if n == 1 else f"{n} answers")


def test_locales_read_in_their_language() -> None:
    assert [language(code) for code in ("ru", "ru-RU", "ru_ru", "en", "de", "")] == [
        "ru", "ru", "ru", "en", "en", "en",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("n", "counts"),
    [
        (1, "1 оценка, 1 ответ NPS, 1 ответ о настроении"),
        (2, "2 оценки, 2 ответа NPS, 2 ответа о настроении"),
        (5, "5 оценок, 5 ответов NPS, 5 ответов о настроении"),
        (21, "21 оценка, 21 ответ NPS, 21 ответ о настроении"),
    ],
)
def test_not_enough_data_in_russian_counts_with_plural_forms(n: int, counts: str) -> None:
    strict = Thresholds(min_responses=50)
    result = flag(figures([4] * n, nps=[9] * n, valences=[1] * n), None, strict, locale="ru")
    assert result == Flag(Level.NOT_ENOUGH_DATA, (f"мало данных: {counts} (нужно 50)",))
    assert flag(Figures(), None, THRESHOLDS, locale="ru").sentence == (
        "мало данных: нет ответов с оценкой (нужно 5)"
    )


def test_problem_flag_in_russian() -> None:
    result = flag(figures([5, 4, 4, 3, 3, 3, 3, 3, 2, 2]), None, THRESHOLDS, locale="ru")
    assert result.sentence == "средняя оценка 3.2 < 3.5, n=10; CSAT 30% < 70%, n=10"


def test_drop_sentences_in_russian() -> None:
    # the same numbers as test_csat_below_threshold_and_significantly_down
    csat = flag(
        figures([5] * 22 + [3] * 19), figures([4] * 72 + [3] * 28), THRESHOLDS, locale="ru"
    )
    assert csat.reasons == (
        "CSAT 54% < 70%, n=41, на 18 п.п. ниже, чем на прошлой неделе (значимо)",
    )
    # and as test_small_sample_drop_is_not_a_problem
    rating = flag(figures([4, 5, 4, 4, 4]), figures([5, 5, 5, 5, 4]), THRESHOLDS, locale="ru")
    assert rating == Flag(
        Level.WATCH,
        (
            "средняя оценка 4.2, на прошлой неделе было 4.8 "
            "(незначимо: t-критерий Уэлча, p=0.067, n=5 против 5)",
        ),
    )
    month = flag(
        figures(nps=[10] * 20 + [8] * 20), figures(nps=[10] * 40), THRESHOLDS,
        period_name=previous_period(30, "ru"), locale="ru",
    )  # fmt: skip
    assert month.sentence.startswith(
        "NPS 50 (±15), на 50 п. ниже, чем за предыдущие 30 дней (z-критерий по погрешностям NPS"
    )


def test_watch_and_ok_in_russian() -> None:
    watch = flag(figures([4] * 8 + [3, 2]), None, THRESHOLDS, locale="ru")
    assert watch.reasons == ("средняя оценка 3.7, близко к порогу 3.5, n=10",)
    ok = flag(
        figures([5] * 20 + [4] * 20, nps=[10] * 20 + [8] * 10), None, THRESHOLDS, locale="ru"
    )
    assert ok.sentence == "средняя оценка 4.5, CSAT 100%, n=40; NPS 67 (±17), n=30"


def test_key_stages_in_russian() -> None:
    ranked = key_stages(
        {"Оплата": (6, 0.90), "Онбординг": (30, None), "Доставка": (50, -0.71)}, locale="ru"
    )
    assert [stage.sentence for stage in ranked] == [
        "Доставка: r = −0.71 с NPS, n = 50",
        "Оплата: r = 0.90 с NPS, n = 6 — слишком мало, чтобы судить",
        "Онбординг: r не определён (ответы не различаются), n = 30",
    ]


@pytest.mark.parametrize(
    ("n", "english", "russian"),
    [
        (1, "1 answer", "1 ответ"),
        (2, "2 answers", "2 ответа"),
        (5, "5 answers", "5 ответов"),
        (21, "21 answers", "21 ответ"),
    ],
)
def test_answers_without_a_score_are_counted_in_not_enough_data(
    n: int, english: str, russian: str
) -> None:
    # a touchpoint only a choice option maps to: answers, none of them scored
    unscored = Figures(answers=n)
    assert flag(unscored, None, THRESHOLDS).sentence == (
        f"not enough data: {english} without a score (5 needed)"
    )
    assert flag(unscored, None, THRESHOLDS, locale="ru").sentence == (
        f"мало данных: {russian} без оценки (нужно 5)"
    )
