"""The flags' sentences (reports.flags): what an owner reads beside each cell, in English
and Russian, with the estimate, its interval and the customers counted — from the verdicts
of reports.evidence."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reports.customers import CustomerCells, CustomerFigures, Moments
from reports.evidence import CellVerdict, Estimate, Finding, Rule, assess
from reports.flags import (
    Flag,
    Level,
    baseline_name,
    flag,
    not_enough,
    settings_of,
    shown,
)
from reports.words import answers, language, unknown_sends
from surveys.model import Thresholds

SETTINGS = settings_of(Thresholds())  # rating 3.5, CSAT 70%, NPS 0, mood 0, 5 customers
WEEKS = baseline_name(7, 4)


def rating(posterior: float, sd: float, n: int) -> Estimate:
    return Estimate(n=n, mean=posterior, posterior=posterior, sd=sd, df=1e6)


def finding(rule: Rule, metric: str, value: float, low: float, high: float, n: int,
            line: float, discovered: bool = True, baseline: float | None = None,
            n_baseline: int = 0) -> Finding:  # fmt: skip
    return Finding(("visit", None), metric, rule, 0.001 if discovered else 0.2, value, low,
                   high, n, line, baseline, n_baseline, discovered,
                   not discovered)  # fmt: skip


def verdict(*findings: Finding, n: int = 40) -> CellVerdict:
    return CellVerdict({"rating": rating(3.2, 0.1, n)}, findings, n)


# --- sentences ------------------------------------------------------------------------------


def test_a_threshold_problem_reads_with_its_interval_and_customers() -> None:
    result = flag(
        verdict(
            finding(Rule.THRESHOLD, "csat", 0.42, 0.31, 0.53, 40, 0.7),
            finding(Rule.THRESHOLD, "rating", 3.24, 3.02, 3.46, 40, 3.5),
        ),
        SETTINGS, WEEKS,
    )  # fmt: skip
    assert result == Flag(
        Level.PROBLEM,
        (
            "average rating 3.2 (90%: 3.0 to 3.5) < 3.5, 40 customers",
            "CSAT 42% (90%: 31% to 53%) < 70%, 40 customers",
        ),
        frozenset({"threshold"}),
    )
    ru = flag(verdict(finding(Rule.THRESHOLD, "rating", 3.24, 3.02, 3.46, 21, 3.5), n=21),
              SETTINGS, baseline_name(7, 4, "ru"), "ru")  # fmt: skip
    assert ru.sentence == "средняя оценка 3,2 (90 %: от 3,0 до 3,5) < 3,5 — 21 клиент"


def test_watch_says_the_evidence_is_not_yet_enough() -> None:
    result = flag(verdict(finding(Rule.THRESHOLD, "rating", 3.6, 3.2, 4.0, 12, 3.5, False)),
                  SETTINGS, WEEKS)  # fmt: skip
    assert result.level is Level.WATCH
    assert result.sentence == (
        "average rating 3.6 (90%: 3.2 to 4.0), may be below 3.5 — not yet conclusive, 12 customers"
    )
    ru = flag(verdict(finding(Rule.THRESHOLD, "rating", 3.6, 3.2, 4.0, 12, 3.5, False)),
              SETTINGS, WEEKS, "ru")  # fmt: skip
    assert ru.sentence == (
        "средняя оценка 3,6 (90 %: от 3,2 до 4,0), возможно ниже 3,5 — пока не доказано, "
        "12 клиентов"
    )


def test_relative_and_drop_sentences() -> None:
    relative = flag(verdict(finding(Rule.RELATIVE, "rating", -0.45, -0.6, -0.3, 80, -0.2)),
                    SETTINGS, WEEKS)  # fmt: skip
    assert relative.sentence == (
        "0.5 below the same customers' other ratings (90%: 0.3 to 0.6), 80 customers"
    )
    drop = finding(Rule.DROP, "nps", -0.2, -0.3, -0.1, 60, -0.08, baseline=0.35,
                   n_baseline=240)  # fmt: skip
    assert flag(verdict(drop), SETTINGS, WEEKS).sentence == (
        "NPS +15, down 20 pts from +35 over the previous 4 weeks (60 customers vs 240)"
    )
    assert flag(verdict(drop), SETTINGS, baseline_name(7, 4, "ru"), "ru").sentence == (
        "NPS +15, на 20 пунктов ниже, чем +35 за предыдущие 4 недели (60 клиентов против 240)"
    )


def test_a_relative_finding_names_the_weeks_its_evidence_counted() -> None:
    relative = finding(Rule.RELATIVE, "rating", -0.8, -1.2, -0.4, 15, -0.15)
    counted = replace(relative, window=75)
    assert flag(verdict(counted), SETTINGS, WEEKS).sentence == (
        "0.8 below the same customers' other ratings (90%: 0.4 to 1.2), 15 customers; 75 "
        "counting those over the previous 4 weeks"
    )
    assert flag(verdict(counted), SETTINGS, baseline_name(7, 4, "ru"), "ru").sentence == (
        "на 0,8 ниже других оценок тех же клиентов (90 %: от 0,4 до 1,2), 15 клиентов; 75 "
        "вместе с клиентами за предыдущие 4 недели"
    )


def test_a_stage_fallen_against_the_rest_of_the_visit_reads_so() -> None:
    fall = finding(Rule.DROP, "relative", -0.52, -0.7, -0.3, 40, -0.1, baseline=0.1,
                   n_baseline=160)  # fmt: skip
    assert flag(verdict(fall), SETTINGS, WEEKS).sentence == (
        "0.5 further below the same customers' other ratings than over the previous 4 weeks "
        "(40 customers vs 160)"
    )
    assert flag(verdict(fall), SETTINGS, baseline_name(7, 4, "ru"), "ru").sentence == (
        "на 0,5 больше отстаёт от других оценок тех же клиентов, чем за предыдущие 4 недели "
        "(40 клиентов против 160)"
    )


def test_numbers_read_as_owners_read_them() -> None:
    assert shown("nps", -0.133) == "−13"
    assert shown("nps", 0.004) == "0"
    assert shown("valence", -0.04) == "0.0"
    assert shown("valence", 0.44) == "+0.4"
    assert shown("csat", 0.705) == "70%"


def test_russian_numbers_have_the_decimal_comma() -> None:
    assert shown("rating", 3.24, "ru") == "3,2"
    assert shown("valence", -0.44, "ru") == "−0,4"
    assert shown("valence", 0.44, "ru") == "+0,4"
    assert shown("valence", -0.04, "ru") == "0,0"
    assert shown("nps", -0.133, "ru") == "−13"
    relative = finding(Rule.RELATIVE, "rating", -0.45, -0.6, -0.3, 80, -0.2)
    assert flag(verdict(relative), SETTINGS, WEEKS, "ru").sentence == (
        "на 0,5 ниже других оценок тех же клиентов (90 %: от 0,3 до 0,6), 80 клиентов"
    )


@pytest.mark.parametrize(
    ("periods", "english", "russian"),
    [
        (1, "over the previous week", "за предыдущую неделю"),
        (2, "over the previous 2 weeks", "за предыдущие 2 недели"),
        (4, "over the previous 4 weeks", "за предыдущие 4 недели"),
        (5, "over the previous 5 weeks", "за предыдущие 5 недель"),
        (21, "over the previous 21 weeks", "за предыдущие 21 неделю"),
    ],
)
def test_the_baseline_is_named_with_the_plural_of_its_weeks(
    periods: int, english: str, russian: str
) -> None:
    assert baseline_name(7, periods) == english
    assert baseline_name(7, periods, "ru") == russian


def test_other_baselines_count_periods() -> None:
    assert baseline_name(30, 1) == "over the previous period"
    assert baseline_name(30, 3, "ru") == "за предыдущие 3 периода"
    assert baseline_name(30, 5, "ru") == "за предыдущие 5 периодов"


def test_a_drop_of_one_point_and_of_a_thousand_customers() -> None:
    drop = finding(Rule.DROP, "csat", -0.01, -0.02, -0.005, 1500, 0.7, baseline=0.81,
                   n_baseline=4200)  # fmt: skip
    assert flag(verdict(drop), SETTINGS, WEEKS).sentence == (
        "CSAT 80%, down 1 pt from 81% over the previous 4 weeks (1,500 customers vs 4,200)"
    )
    assert flag(verdict(drop), SETTINGS, baseline_name(7, 4, "ru"), "ru").sentence == (
        "CSAT 80\xa0%, на 1 пункт ниже, чем 81\xa0% за предыдущие 4 недели "
        "(1\xa0500 клиентов против 4\xa0200)"
    )


@pytest.mark.parametrize(
    ("n", "english", "russian"),
    [(0, "no scored answers", "нет ответов с оценкой"), (1, "1 customer", "1 клиент"),
     (3, "3 customers", "3 клиента"), (21, "21 customers", "21 клиент")],
)  # fmt: skip
def test_not_enough_data_counts_customers(n: int, english: str, russian: str) -> None:
    assert not_enough(n, 5, "en").sentence == f"not enough data: {english} (5 needed)"
    assert not_enough(n, 5, "ru").sentence == f"мало данных: {russian} (нужно 5)"
    assert flag(CellVerdict({}, (), n), SETTINGS, WEEKS) == not_enough(n, 5, "en")


# --- from customer figures to a flag --------------------------------------------------------


def cell(ratings: list[int]) -> CustomerFigures:
    n = len(ratings)
    happy = float(sum(r >= 4 for r in ratings))
    return CustomerFigures(n, Moments(n, float(sum(ratings)), float(sum(r * r for r in ratings))),
                           Moments(n, happy, happy))  # fmt: skip


def test_the_customer_is_the_unit_of_min_customers() -> None:
    # four customers who gave 1 star: below the five customers a cell needs
    cells = CustomerCells({"visit": cell([1, 1, 1, 1]), "pay": cell([5, 4] * 20)}, {})
    verdicts = assess(cells, (), SETTINGS)
    result = flag(verdicts.get(("visit", None)), SETTINGS, WEEKS)
    assert result == Flag(Level.NOT_ENOUGH_DATA, ("not enough data: 4 customers (5 needed)",))


def test_a_healthy_stage_is_ok_with_its_figures() -> None:
    cells = CustomerCells({"pay": cell([5, 4] * 20)}, {})
    verdicts = assess(cells, (), SETTINGS)
    result = flag(verdicts.get(("pay", None)), SETTINGS, WEEKS)
    assert result.level is Level.OK
    assert result.sentence.startswith("average rating 4.5 (90%: 4.4 to 4.6), CSAT 100%")
    assert result.sentence.endswith(", 40 customers")


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


def test_counted_nouns_follow_babels_plural_rules_and_group_thousands() -> None:
    assert answers(1234, "ru") == "1\xa0234 ответа"
    assert answers(1001, "en") == "1,001 answers"
    assert unknown_sends(21, "ru").startswith("⚠️ 21 вопрос мог не дойти до клиентов")
    assert unknown_sends(3, "ru").startswith("⚠️ 3 вопроса могли не дойти до клиентов")
    assert unknown_sends(1, "en").startswith("⚠️ 1 question may not have reached customers")


def test_locales_read_in_their_language() -> None:
    assert [language(code) for code in ("ru", "ru-RU", "ru_ru", "en", "de", "")] == [
        "ru", "ru", "ru", "en", "en", "en",
    ]  # fmt: skip
