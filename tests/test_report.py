"""The report object on realistic data: the demo's newly opened cafe, whose interest stage
is fine, whose purchase suffers from the queue and whose retention stage is poor
(demo/guests.py plants them)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime

import pytest

from reports.aggregate import Period, change
from reports.export import map_csv
from reports.figures import Figures
from reports.flags import Flag, Level, not_enough, shown
from reports.priority_words import headline
from reports.render_html import render_html
from reports.render_png import HEIGHT, WIDTH, render_png
from reports.report import Cell, Report, StageRow, stage_response_rates
from reports.summary import TELEGRAM_LIMIT, summary_text
from reports.words import answers
from surveys.loader import load_survey
from tests.support.demo_data import demo_report
from tests.test_render_png import png_size


@pytest.fixture(scope="module")
def report(cafe_report: Report) -> Report:
    return cafe_report


def test_the_planted_problem_stage_is_flagged_with_its_reason(report: Report) -> None:
    retention = next(row for row in report.stages if row.stage.id == "retention")
    assert retention.stage.name == "Retention"
    assert retention.stage.flag.level is Level.PROBLEM
    figures = retention.stage.figures
    assert figures.average_rating is not None and figures.average_rating < 3.5
    rating = retention.stage.estimates["rating"]
    assert retention.stage.flag.reasons[0].startswith("average rating ")
    assert f"< 3.5, {rating.n} customers" in retention.stage.flag.reasons[0]
    low, high = rating.interval()
    assert f"(90%: {low:.1f} to {high:.1f})" in retention.stage.flag.reasons[0]


def test_the_healthy_stage_is_not_flagged(report: Report) -> None:
    interest = next(row for row in report.stages if row.stage.id == "interest")
    assert interest.stage.flag.level is Level.OK
    assert (interest.stage.figures.average_rating or 0) >= 4


def test_every_stage_and_touchpoint_of_the_survey_is_on_the_map(report: Report) -> None:
    survey = load_survey("cafe")
    assert [row.stage.id for row in report.stages] == [s.id for s in survey.stages]
    for row, definition in zip(report.stages, survey.stages, strict=True):
        assert [c.id for c in row.touchpoints] == [t.id for t in definition.touchpoints]


def test_comments_response_rates_and_key_stages(report: Report) -> None:
    retention = next(row for row in report.stages if row.stage.id == "retention")
    assert 0 < len(retention.comments) <= 3
    # Low-rated first: purchase comments follow its rating in the same wave. (Retention's
    # follow a choice, "not sure" or "unlikely" to come back: not rated low by a number.)
    purchase = next(row for row in report.stages if row.stage.id == "purchase")
    assert purchase.comments and purchase.comments[0].low
    assert set(report.response_rates) == {"after_purchase", "first_use", "loyalty"}
    assert all(0 < answered <= sent for answered, sent in report.response_rates.values())
    assert report.response_rate is not None and 0.5 < report.response_rate < 1
    ranked = report.priorities
    assert ranked.journeys > 0 and ranked.enough
    assert sum(p.importance for p in ranked.stages) == pytest.approx(1.0)
    assert all(0 <= p.low <= p.high <= 1 for p in ranked.stages)
    scores = [p.score for p in ranked.stages]
    assert scores == sorted(scores, reverse=True)
    assert all(p.gap > 0 for p in ranked.fix_first)


def test_the_telegram_summary_leads_with_the_worst_stages(report: Report) -> None:
    text = summary_text(report)

    lines = text.splitlines()
    assert lines[0] == "Cafe: the guest journey"
    assert lines[1] == "01.10.2026–14.11.2026"
    # First the places to improve: the two planted themes (demo/guests.py).
    assert lines[2] == "Places to improve:"
    assert lines[3].startswith("1. Retention · Return visit — Loyalty card and rewards: ")
    assert lines[4].startswith("2. Purchase — Queue and waiting: ")
    figures = lines.index("", 2) + 1
    assert lines[figures].startswith(f"{report.answers:,} answers · response rate ")
    # The NPS as the map shows it: the loyalty cell's estimate and its 90 % interval.
    (asked,) = [row.stage for row in report.stages if row.stage.figures.nps_answers]
    nps = asked.estimates["nps"]
    low, high = nps.interval(0.90)
    figure = (
        f"NPS {shown('nps', nps.posterior)} (90%: {shown('nps', low)} to {shown('nps', high)})"
    )
    assert figure in lines[figures]
    assert re.search(r"NPS −\d+ \(90%: −\d+ to [−+]\d+\)", lines[figures])  # real minus signs
    problems = [line for line in lines if line.startswith("🔴 ")]
    assert any(line.startswith("🔴 Retention: average rating") for line in problems)
    assert not any("Interest" in line for line in problems)
    names = {row.stage.id: row.stage.name for row in report.stages}
    assert headline(report.priorities, names, "en") in lines
    # A worst stage's low comment, in the language's own quotation marks.
    quotes = [line.strip() for line in lines if line.startswith("   ")]
    assert quotes and all(q.startswith("“") and q.endswith("”") for q in quotes)
    assert len(text) <= TELEGRAM_LIMIT


# --- in Russian ---------------------------------------------------------------------------


def test_a_russian_report_has_russian_flags_key_stages_and_summary(demo_url: str) -> None:
    report = demo_report(demo_url, locale="ru")
    retention = next(row for row in report.stages if row.stage.id == "retention")
    assert retention.stage.name == "Возвращение"
    assert retention.stage.flag.sentence.startswith("средняя оценка ")
    sentences = [row.stage.flag.sentence for row in report.stages]
    sentences += [tp.flag.sentence for row in report.stages for tp in row.touchpoints]
    assert not any(word in s for s in sentences for word in ("average", "not enough", "vs"))
    names = {row.stage.id: row.stage.name for row in report.stages}
    assert headline(report.priorities, names, "ru") in summary_text(report).splitlines()

    lines = summary_text(report).splitlines()
    assert lines[2] == "Что улучшить:"
    quotes = [line.strip() for line in lines if line.startswith("   ")]
    assert quotes and all(q.startswith("«") and q.endswith("»") for q in quotes)
    assert lines[3].startswith("1. Возвращение · Повторный визит — Карта лояльности и бонусы: ")
    assert lines[lines.index("", 2) + 1].startswith(f"{answers(report.answers, 'ru')} · отклик ")
    assert any(line.startswith("🔴 Возвращение: средняя оценка") for line in lines)


# --- response rate per stage --------------------------------------------------------------


def test_stage_response_rates_sum_the_waves_that_ask_about_the_stage() -> None:
    # cafe: after_purchase asks awareness, consideration, purchase; first_use asks
    # retention, interest, consideration; loyalty asks retention and loyalty.
    rates = {"after_purchase": (30, 40), "first_use": (12, 25), "loyalty": (5, 20)}
    assert stage_response_rates(load_survey("cafe"), rates) == {
        "awareness": (30, 40),
        "interest": (12, 25),
        "consideration": (42, 65),  # 30 + 12 of 40 + 25
        "purchase": (30, 40),
        "retention": (17, 45),  # 12 + 5 of 25 + 20
        "loyalty": (5, 20),
    }
    # No wave sent yet, and a wave no longer in the survey: nothing to count.
    only_old = stage_response_rates(load_survey("cafe"), {"old_wave": (3, 3)})
    assert set(only_old.values()) == {(0, 0)}


def test_the_report_carries_each_stage_response_rate(report: Report) -> None:
    by_stage = {row.stage.id: row for row in report.stages}
    first_use, loyalty = report.response_rates["first_use"], report.response_rates["loyalty"]
    retention = by_stage["retention"]
    assert retention.response == (first_use[0] + loyalty[0], first_use[1] + loyalty[1])
    assert retention.response_rate == pytest.approx(
        (first_use[0] + loyalty[0]) / (first_use[1] + loyalty[1])
    )
    assert by_stage["purchase"].response == report.response_rates["after_purchase"]


VISIT_FLAG = Flag(
    Level.PROBLEM,
    (
        "average rating 3.0 (90%: 2.7 to 3.3) < 3.5, 20 customers",
        "CSAT 30% (90%: 15% to 46%) < 70%, 20 customers",
    ),
    frozenset({"threshold"}),
)


def hand_made_report() -> Report:
    """One problem stage asked by waves with 42 of 65 answered (64.6%) and a stage no
    wave asks about."""
    worse = Figures(answers=20, ratings=20, rating_sum=60, rating_squares=200, satisfied=6)
    visit = Cell("visit", "Visit", worse, Figures(), change(worse, None), VISIT_FLAG)
    idle = Cell("idle", "Idle", Figures(), Figures(), change(None, None),
                not_enough(0, 5, "en"))  # fmt: skip
    return Report(
        "tiny", "Tiny", "en", Period(date(2026, 11, 9), date(2026, 11, 16)), None,
        datetime(2026, 11, 16, tzinfo=UTC),
        (StageRow(visit, (idle,), (), (42, 65)), StageRow(idle, (), ())),
        {"w1": (30, 40), "w2": (12, 25)}, (),
    )  # fmt: skip


def test_stage_response_rate_in_the_summary_csv_and_html() -> None:
    report = hand_made_report()
    lines = summary_text(report).splitlines()
    assert lines[2] == "20 answers · response rate 65%"  # 42 of 65 waves, no NPS
    assert lines[5] == (
        "🔴 Visit: average rating 3.0 (90%: 2.7 to 3.3) < 3.5, 20 customers; "
        "CSAT 30% (90%: 15% to 46%) < 70%, 20 customers · response rate 65%"
    )

    rows = list(csv.DictReader(io.StringIO(map_csv(report), newline="")))
    visit, touchpoint, idle = rows
    assert (visit["waves_answered"], visit["waves_sent"], visit["response_rate"]) == (
        "42", "65", "64.6",
    )  # fmt: skip
    assert touchpoint["response_rate"] == touchpoint["waves_sent"] == ""
    assert (idle["waves_answered"], idle["waves_sent"], idle["response_rate"]) == ("0", "0", "")

    html = render_html(report)
    assert '<td class="problem">65% (42/65)</td>' in html
    assert '<td class="nodata">—</td>' in html
    assert png_size(render_png(report)) == (WIDTH, HEIGHT)
