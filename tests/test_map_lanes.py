"""The map's voice lanes as the owner sees them on the PNG (the texts drawn in each lane)
and in the HTML, on the demo cafe (demo/guests.py): actions and thoughts from the
survey file, pain themes with counts, praise and suggestions apart, top choice answers."""

from __future__ import annotations

import dataclasses
import re

from reports import lanes as lane_words
from reports.figures import Figures
from reports.render_html import render_html
from reports.render_png import map_lane_texts as map_texts
from reports.report import Report, StageRow
from reports.themes import NO_VOICES
from surveys.loader import load_survey

LOVED = ("The cinnamon buns!", "Friendly baristas", "Cosy interior, great coffee")


def test_the_pain_lane_never_quotes_praise(cafe_report: Report) -> None:
    lanes = map_texts(cafe_report)

    pain = " ".join(lanes["pain"])
    assert not any(loved.rstrip("!") in pain for loved in LOVED)
    assert "Atmosphere" in " ".join(lanes["love"])  # "Cosy interior, great coffee"


def test_pain_themes_are_counted_at_their_stage(cafe_report: Report) -> None:
    purchase = cafe_report.voices.of("purchase")
    retention = cafe_report.voices.of("retention")

    assert purchase.pain[0].label == "Queue and waiting"
    assert "Loyalty card and rewards" in [f.label for f in retention.pain]
    pain = map_texts(cafe_report)["pain"]
    queue = purchase.pain[0]
    # The map binds a count to its share with no-break spaces; a reader sees plain spaces.
    shown = " ".join(pain).replace("\u00a0", " ")
    assert f"Queue and waiting {queue.customers} · {round(100 * (queue.share or 0))}%" in shown


def test_actions_and_thoughts_lanes_come_from_the_survey(cafe_report: Report) -> None:
    lanes = map_texts(cafe_report)
    cafe = load_survey("cafe")

    assert lanes["doing"][0] == "Customer does"
    assert lanes["thinking"][0] == "Customer" and lanes["thinking"][1] == "thinks"
    doing = " ".join(lanes["doing"])
    assert cafe.stages[4].doing is not None
    assert cafe.stages[4].doing["en"] in doing  # "Comes back, collects loyalty points, …"


def test_top_answers_of_choice_questions_are_shown(cafe_report: Report) -> None:
    choices = " ".join(map_texts(cafe_report)["choices"])

    (heard,) = cafe_report.voices.of("awareness").choices
    top = heard.top[0]
    assert f"{top.label} {round(100 * top.share)}%" in choices or top.label in choices


def test_a_report_without_voices_quotes_only_low_comments(cafe_report: Report) -> None:
    bare = dataclasses.replace(cafe_report, voices=NO_VOICES)

    lanes = map_texts(bare)

    assert "doing" not in lanes and "love" not in lanes
    quoted = " ".join(lanes["pain"])
    for row in bare.stages:
        for comment in row.comments:
            if not comment.low:
                assert comment.text not in quoted


def test_the_html_has_the_voice_lanes(cafe_report: Report) -> None:
    html = render_html(cafe_report)

    assert '<th scope="row">Customer does</th>' in html
    assert '<th scope="row" title="customers · share of the unhappy">Pain points</th>' in html
    section = html.split('id="stage-purchase"', 1)[1].split("</section>", 1)[0]
    queue = cafe_report.voices.of("purchase").pain[0]
    assert re.search(
        rf"<th scope=\"row\">Queue and waiting</th>\s*<td class=\"num\">{queue.customers}</td>",
        section,
    )
    loyalty = html.split('id="stage-loyalty"', 1)[1].split("</section>", 1)[0]
    pains = loyalty.split("<h4>What they love</h4>", 1)[0]
    assert not any(loved in pains for loved in LOVED)


def test_the_emotion_curve_joins_stages_across_one_without_emotions() -> None:
    from tests.test_render_html import cell, small_report

    moods = [Figures(answers=5, valence_answers=5, valence_sum=v) for v in (5, 0, -5)]
    moods[1] = Figures(answers=5, ratings=5, rating_sum=20, rating_squares=80, satisfied=5)
    base = small_report()
    rows = tuple(
        StageRow(cell(f"s{i}", f"Stage {i}", mood, Figures()), (), ())
        for i, mood in enumerate(moods)
    )
    html = render_html(dataclasses.replace(base, stages=rows))

    # Stage 0 (+1.0) and stage 2 (−1.0) around stage 1, which has no mood.
    assert '<polyline class="curve bridge" points="60.0,40.0 300.0,80.0"/>' in html
    assert html.count("<circle ") == 2


def test_the_unhappy_customers_are_counted_in_each_language() -> None:
    assert [lane_words.unhappy(n, "en") for n in (1, 3)] == [
        "1 unhappy customer",
        "3 unhappy customers",
    ]
    assert lane_words.unhappy(21, "ru") == "недовольных: 21"
    assert lane_words.percent(0.5, "ru") == "50\xa0%" and lane_words.percent(0.5, "en") == "50%"
