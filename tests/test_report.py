"""The report object on realistic data: the demo's newly opened cafe, whose purchase
stage is fine and whose retention stage is poor (bot/demo_guests.py plants both)."""

from __future__ import annotations

import pytest

from reports.flags import Level
from reports.report import Report
from reports.summary import TELEGRAM_LIMIT, summary_text
from surveys.loader import load_survey


@pytest.fixture(scope="module")
def report(cafe_report: Report) -> Report:
    return cafe_report


def test_the_planted_problem_stage_is_flagged_with_its_reason(report: Report) -> None:
    retention = next(row for row in report.stages if row.stage.id == "retention")
    assert retention.stage.name == "Retention"
    assert retention.stage.flag.level is Level.PROBLEM
    figures = retention.stage.figures
    assert figures.average_rating is not None and figures.average_rating < 3.5
    assert f"n={figures.ratings}" in retention.stage.flag.sentence
    assert "< 3.5" in retention.stage.flag.sentence


def test_the_healthy_stage_is_not_flagged(report: Report) -> None:
    purchase = next(row for row in report.stages if row.stage.id == "purchase")
    assert purchase.stage.flag.level is Level.OK
    assert (purchase.stage.figures.average_rating or 0) >= 4


def test_every_stage_and_touchpoint_of_the_survey_is_on_the_map(report: Report) -> None:
    survey = load_survey("cafe")
    assert [row.stage.id for row in report.stages] == [s.id for s in survey.stages]
    for row, definition in zip(report.stages, survey.stages, strict=True):
        assert [c.id for c in row.touchpoints] == [t.id for t in definition.touchpoints]


def test_comments_response_rates_and_key_stages(report: Report) -> None:
    retention = next(row for row in report.stages if row.stage.id == "retention")
    assert 0 < len(retention.comments) <= 3
    assert retention.comments[0].low  # low-rated first
    assert set(report.response_rates) == {"after_purchase", "first_use", "loyalty"}
    assert all(0 < answered <= sent for answered, sent in report.response_rates.values())
    assert report.response_rate is not None and 0.5 < report.response_rate < 1
    ranked = [k for k in report.key_stages if k.r is not None]
    assert ranked and all(k.n > 0 for k in ranked)
    assert [abs(k.r or 0) for k in ranked if not k.too_few] == sorted(
        (abs(k.r or 0) for k in ranked if not k.too_few), reverse=True
    )


def test_the_telegram_summary_leads_with_the_worst_stages(report: Report) -> None:
    text = summary_text(report)

    lines = text.splitlines()
    assert lines[0] == "Cafe: the guest journey"
    assert lines[1] == "01.10.2026–14.11.2026"
    assert lines[2].startswith(f"{report.answers} answers · response rate ")
    assert "NPS " in lines[2]
    problems = [line for line in lines if line.startswith("🔴 ")]
    assert any(line.startswith("🔴 Retention: average rating") for line in problems)
    assert not any("Purchase" in line for line in problems)
    assert "Moves NPS most:" in text
    assert len(text) <= TELEGRAM_LIMIT
