"""The survey file (SPEC §6): bundled templates, every problem with its line, `cjm survey
check`, durations and `ask_if` conditions."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import main
from surveys.checks import check_survey
from surveys.conditions import ConditionError, Given, parse_condition
from surveys.loader import TEMPLATES, SurveyError, load_survey, parse_survey
from surveys.model import QuestionKind, parse_duration

# A small valid survey; tests break one thing at a time with `BASE.replace(...)`.
BASE = textwrap.dedent(
    """\
    id: mini
    title: {ru: "Мини", en: "Mini"}
    default_locale: en
    emotions:
      - {id: joy, emoji: "😊", valence: 1, label: {ru: "Радость", en: "Joy"}}
      - {id: anger, emoji: "😠", valence: -2, label: {ru: "Злость", en: "Anger"}}
    stages:
      - id: purchase
        name: {ru: "Покупка", en: "Purchase"}
        touchpoints:
          - {id: checkout, name: {ru: "Касса", en: "Checkout"}}
    waves:
      - id: after_purchase
        after: 2h
        remind_after: 20h
        expire_after: 3d
        questions:
          - id: rating
            stage: purchase
            touchpoint: checkout
            kind: rating
            text: {ru: "Оценка?", en: "Rating?"}
          - id: mood
            stage: purchase
            kind: emotion
            text: {ru: "Настроение?", en: "Mood?"}
          - id: channel
            stage: purchase
            kind: choice
            text: {ru: "Канал?", en: "Channel?"}
            options:
              - {id: web, label: {ru: "Сайт", en: "Website"}}
              - {id: "yes", label: {ru: "Да", en: "Yes"}}
              - {id: "no", label: {ru: "Нет", en: "No"}}
          - id: comment
            stage: purchase
            kind: text
            text: {ru: "Комментарий?", en: "Comment?"}
          - id: follow_up
            stage: purchase
            kind: text
            ask_if: rating <= 3
            text: {ru: "Что не так?", en: "What went wrong?"}
    """
)

# Every kind of mistake at once; the expected report lists each with its line.
BROKEN = textwrap.dedent(
    """\
    id: shop
    title: {ru: "Магазин", en: "Shop"}
    default_locale: en
    thresholds: {csat: 1.5}
    emotions:
      - {id: joy, emoji: "😊", valence: 1, label: {ru: "Радость", en: "Joy"}}
      - {id: joy, emoji: "😞", valence: -1, label: {ru: "Грусть", en: "Sadness"}}
    stages:
      - id: purchase
        name: {ru: "Покупка", en: "Purchase"}
        touchpoints:
          - {id: checkout, name: {ru: "Касса", en: "Checkout"}}
      - id: delivery
        name: {en: "Delivery"}
    waves:
      - id: after_purchase
        after: 2x
        remind_afer: 20h
        questions:
          - id: checkout_rating
            stage: purchase
            touchpoint: cashdesk
            kind: rating
            text: {ru: "Как прошла оплата?", en: "How was paying?"}
          - id: checkout_pain
            stage: purchse
            kind: text
            ask_if: checkout_rating <= 6
            text: {ru: "Что не так?", en: "What went wrong?"}
          - id: delivery_rating
            stage: delivery
            kind: rating
            ask_if: delivery_emotion.valence < 0 or weather == rain
            text: {ru: "Доставка?", en: "Delivery?"}
          - id: delivery_emotion
            stage: delivery
            kind: emotion
            text: {ru: "Чувства?", en: "Feelings?"}
          - id: checkout_rating
            stage: delivery
            kind: rating
            text: {ru: "Ещё раз?", en: "Once more?"}
    """
)
EARLIER_ONLY = "ask_if can only use an earlier question of the same wave"
BROKEN_REPORT = [
    "broken.yaml:4: thresholds.csat: Input should be less than or equal to 1",
    "broken.yaml:7: emotions[1].id: duplicate emotion id 'joy'",
    "broken.yaml:14: stages[1].name: missing translation: ru",
    "broken.yaml:17: waves[0].after: not a duration: '2x' "
    "(use s, m, h, d, w units, e.g. '2h' or '1d12h')",
    "broken.yaml:18: waves[0].remind_afer: unknown key (did you mean 'remind_after'?)",
    "broken.yaml:22: waves[0].questions[0].touchpoint: "
    "unknown touchpoint 'cashdesk' in stage 'purchase'",
    "broken.yaml:26: waves[0].questions[1].stage: unknown stage 'purchse'",
    "broken.yaml:28: waves[0].questions[1].ask_if: 6 is outside rating's range 1..5",
    f"broken.yaml:33: waves[0].questions[2].ask_if: 'delivery_emotion' is asked later: "
    f"{EARLIER_ONLY}",
    f"broken.yaml:33: waves[0].questions[2].ask_if: unknown question 'weather': {EARLIER_ONLY}",
    "broken.yaml:39: waves[0].questions[4].id: duplicate question id 'checkout_rating'",
]


def changed(old: str, new: str, text: str = BASE) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def with_follow_up(condition: str) -> str:
    return changed("ask_if: rating <= 3", f"ask_if: {condition}")


def line_of(text: str, fragment: str) -> int:
    lines = [n for n, line in enumerate(text.splitlines(), 1) if fragment in line]
    assert len(lines) == 1, (fragment, lines)
    return lines[0]


def problems_of(text: str) -> list[str]:
    with pytest.raises(SurveyError) as caught:
        parse_survey(text, "s.yaml")
    return str(caught.value).splitlines()


# -- the bundled templates ---------------------------------------------------------------


@pytest.mark.parametrize("name", TEMPLATES)
def test_bundled_template_loads_in_russian_and_english(name: str) -> None:
    survey = load_survey(name)

    assert survey.id == name
    assert sorted(survey.locales) == ["en", "ru"]
    assert check_survey(survey) == []
    questions = [q for wave in survey.waves for q in wave.questions]
    assert all(set(q.text) == {"ru", "en"} for q in questions)
    assert all(set(o.label) == {"ru", "en"} for q in questions for o in q.options)
    assert {q.kind for q in questions} >= {QuestionKind.RATING, QuestionKind.TEXT}


def test_the_small_survey_used_below_is_valid() -> None:
    survey = parse_survey(BASE)
    assert [q.id for q in survey.waves[0].questions] == [
        "rating", "mood", "channel", "comment", "follow_up",
    ]  # fmt: skip


# -- every problem, located ----------------------------------------------------------------


def test_broken_file_reports_every_problem_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN, encoding="utf-8")

    with pytest.raises(SurveyError) as caught:
        load_survey(path)

    rendered = [line.removeprefix(f"{tmp_path}/") for line in str(caught.value).splitlines()]
    assert rendered == BROKEN_REPORT
    assert all(problem.line for problem in caught.value.problems)


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ('""', "empty condition: remove ask_if"),
        ("'  '", "empty condition: remove ask_if"),
        ("comment == web", "'comment' is a text question: text answers cannot be compared"),
        ("comment <= 3", "'comment' is a text question: text answers cannot be compared"),
        ("mood.valence == joy", "'.valence' is a number from -2 to 2"),
        ("mood.valence < 3", "3 is outside the valence range -2..2"),
        ("mood.valence > -3", "-3 is outside the valence range -2..2"),
        ("rating.valence < 0", "'.valence' needs an emotion question, 'rating' is a rating one"),
        ("rating >= 0", "0 is outside rating's range 1..5"),
        ("rating == web", "'rating' is a rating question; compare it with a number"),
        ("mood <= 2", "'mood' is an emotion question; compare it with an option id"),
        ("mood == calm", "unknown option 'calm' of 'mood'"),
        ("channel == phone", "unknown option 'phone' of 'channel'"),
        ("channel < web", "options can only be compared with == or !=, not <"),
        ("rating is low", "cannot read condition 'rating is low'"),
        ("follow_up <= 3", "a question cannot depend on its own answer"),
        ("rating <= 3 and later_one == x", "unknown question 'later_one'"),
    ],
)
def test_ask_if_mistakes_are_located(condition: str, message: str) -> None:
    text = with_follow_up(condition)

    problems = problems_of(text)

    where = f"s.yaml:{line_of(text, 'ask_if:')}: waves[0].questions[4].ask_if: "
    assert len(problems) == 1, problems
    assert problems[0].startswith(where + message), problems


@pytest.mark.parametrize(
    "condition",
    [
        "rating <= 3",
        "mood.valence < 0",
        "mood == anger",
        "channel != web",
        "rating <= 2 and mood == anger or channel == yes",
    ],
)
def test_sound_conditions_pass(condition: str) -> None:
    survey = parse_survey(with_follow_up(condition))
    assert survey.waves[0].questions[4].ask_if == condition


def test_duplicate_option_ids_in_one_question() -> None:
    text = changed('{id: "no", label: {ru: "Нет"', '{id: web, label: {ru: "Нет"')

    line = line_of(text, '{id: web, label: {ru: "Нет"')
    assert problems_of(text) == [
        f"s.yaml:{line}: waves[0].questions[2].options[2].id: duplicate option id 'web'"
    ]


def test_same_option_id_in_two_questions_is_fine() -> None:
    text = changed(
        '        kind: text\n        text: {ru: "Комментарий',
        "        kind: choice\n"
        "        options:\n"
        '          - {id: web, label: {ru: "Сайт", en: "Website"}}\n'
        '          - {id: shop, label: {ru: "Магазин", en: "Shop"}}\n'
        '        text: {ru: "Комментарий',
    )
    assert parse_survey(text).waves[0].questions[3].kind is QuestionKind.CHOICE


@pytest.mark.parametrize(("word", "meant"), [("yes", "true"), ("no", "false")])
def test_unquoted_yes_and_no_get_a_hint(word: str, meant: str) -> None:
    text = changed(f'{{id: "{word}", label', f"{{id: {word}, label")
    text = changed("ask_if: rating <= 3", f"ask_if: channel == {word}", text)

    problems = problems_of(text)

    line = line_of(text, f"{{id: {word}, label")
    assert problems == [
        f"s.yaml:{line}: waves[0].questions[2].options[{1 if word == 'yes' else 2}].id: "
        f"YAML reads {word} as {meant}; quote it: '{word}' (input should be a valid string)"
    ]


@pytest.mark.parametrize(
    ("old", "new", "line", "path", "message"),
    [
        ("remind_after: 20h", "remind_after: 0s", "remind_after:", "waves[0].remind_after",
         "must be longer than zero"),
        ("remind_after: 20h", "remind_after: 3d", "remind_after:", "waves[0].remind_after",
         "must be shorter than expire_after"),
        ("expire_after: 3d", "expire_after: 0m", "expire_after:", "waves[0].expire_after",
         "must be longer than zero"),
        ("after: 2h", "after: soon", "after: soon", "waves[0].after", "not a duration: 'soon'"),
        ("kind: rating", "kind: stars", "kind: stars", "waves[0].questions[0].kind",
         "Input should be 'rating', 'nps', 'emotion', 'choice' or 'text'"),
        ("stage: purchase\n    touchpoint", "stage: purchse\n    touchpoint", "purchse",
         "waves[0].questions[0].stage", "unknown stage 'purchse'"),
        ("touchpoint: checkout", "touchpoint: cashdesk", "cashdesk",
         "waves[0].questions[0].touchpoint", "unknown touchpoint 'cashdesk' in stage 'purchase'"),
        ("valence: -2", "valence: -5", "valence: -5", "emotions[1].valence",
         "Input should be greater than or equal to -2"),
        ('text: {ru: "Оценка?", en: "Rating?"}', 'text: {en: "Rating?"}', "Rating?",
         "waves[0].questions[0].text", "missing translation: ru"),
        ('text: {ru: "Оценка?", en: "Rating?"}', 'text: "Rating?"', "Rating?",
         "waves[0].questions[0].text", "expected a text per language"),
        ("kind: emotion", "kind: emotion\n    colour: blue", "colour",
         "waves[0].questions[1].colour", "unknown key"),
        ("default_locale: en", "default_locale: de", "title:", "title",
         "no text for the default locale 'de'"),
        ("id: after_purchase", "id: After-Purchase", "After-Purchase", "waves[0].id",
         "expected lower-case latin letters, digits and _, starting with a letter "
         "(e.g. after_purchase)"),
    ],
)  # fmt: skip
def test_single_mistakes_are_located(
    old: str, new: str, line: str, path: str, message: str
) -> None:
    indent = "\n" + " " * 8  # question fields; harmless where `old` has no line break
    text = changed(old.replace("\n    ", indent), new.replace("\n    ", indent))

    problems = problems_of(text)

    assert len(problems) == 1, problems
    assert problems[0].startswith(f"s.yaml:{line_of(text, line)}: {path}: {message}"), problems


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        # The follow-up's `channel == yes` is not judged against a kind that is unknown.
        ("kind: choice", "kind: pick", "waves[0].questions[2].kind"),
        # Questions naming touchpoint `checkout` are not told it is unknown.
        ("touchpoints:\n      - {id: checkout, name: {ru: \"Касса\", en: \"Checkout\"}}",
         "touchpoints: checkout", "stages[0].touchpoints"),
        # Without the title's languages, no text is said to lack a translation.
        ('title: {ru: "Мини", en: "Mini"}', "title: Mini", "title"),
        # The emotion question is not told the palette is missing.
        ("  - {id: joy", "  - {id: joy, colour: red", "emotions[0].colour"),
    ],
)  # fmt: skip
def test_a_structural_problem_is_reported_once_without_echoes(
    old: str, new: str, path: str
) -> None:
    text = with_follow_up("channel == yes and mood == joy")
    text = changed(old, new, text)

    problems = problems_of(text)

    assert len(problems) == 1, problems
    assert f": {path}: " in problems[0]


def test_a_key_written_twice_is_reported() -> None:
    text = changed(
        '        text: {ru: "Настроение?", en: "Mood?"}',
        '        text: {ru: "Настроение?", en: "Mood?"}\n        text: {en: "Mood today?"}',
    )

    line = line_of(text, "Mood today?")
    assert problems_of(text) == [
        f"s.yaml:{line}: waves[0].questions[1].text: missing translation: ru",
        f"s.yaml:{line}: waves[0].questions[1].text: duplicate key: only the last one counts",
    ]


def test_invalid_yaml_names_its_line() -> None:
    unclosed = 'name: {ru: "Покупка", en: "Purchase"'
    text = changed(unclosed + "}", unclosed)

    problems = problems_of(text)

    assert problems == [
        f"s.yaml:{line_of(text, 'touchpoints:')}: not valid YAML: "
        "expected ',' or '}', but got '<scalar>' "
        f"(while parsing a flow mapping that starts on line {line_of(text, unclosed)})"
    ]


def test_invalid_yaml_indentation() -> None:
    text = changed("    after: 2h", "     after: 2h")

    problems = problems_of(text)

    assert len(problems) == 1
    assert problems[0].startswith(f"s.yaml:{line_of(text, 'after: 2h')}: not valid YAML")


@pytest.mark.parametrize("text", ["- just\n- a list\n", "a plain sentence\n", ""])
def test_a_file_that_is_not_a_mapping(text: str) -> None:
    assert problems_of(text) == ["s.yaml: expected a mapping of survey keys"]


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SurveyError) as caught:
        load_survey(tmp_path / "nowhere.yaml")
    assert str(caught.value) == (
        f"{tmp_path}/nowhere.yaml: no such file (give a survey YAML file, or a bundled "
        "template: cafe, online_shop, lean)"
    )


# -- cjm survey check ------------------------------------------------------------------------


def test_cli_check_of_a_broken_file_exits_2_with_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN, encoding="utf-8")

    assert main(["survey", "check", str(path)]) == 2

    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [f"{tmp_path}/{line}" for line in BROKEN_REPORT]


def test_cli_check_of_a_good_file_says_ok(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mini.yaml"
    path.write_text(BASE, encoding="utf-8")

    assert main(["survey", "check", str(path)]) == 0

    out, err = capsys.readouterr()
    assert out.startswith(f"{path}: ok — survey 'mini'")
    assert "locales ru, en" in out
    assert err == ""


def test_cli_check_of_a_template_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["survey", "check", "online_shop"]) == 0
    assert capsys.readouterr().out.startswith("online_shop: ok — survey 'online_shop'")


def test_cli_check_of_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["survey", "check", str(tmp_path / "nope.yaml")]) == 2
    assert capsys.readouterr().err == (
        f"{tmp_path}/nope.yaml: no such file (give a survey YAML file, or a bundled "
        "template: cafe, online_shop, lean)\n"
    )


@pytest.mark.parametrize(
    ("name", "hint"), [("nosuch", ""), ("cafee", "; did you mean cafe?")]
)  # fmt: skip
def test_cli_check_of_an_unknown_template_lists_the_bundled_ones(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    hint: str,
) -> None:
    monkeypatch.chdir(tmp_path)

    assert main(["survey", "check", name]) == 2

    assert capsys.readouterr() == (
        "",
        f"{name}: no such file, and not a bundled template (cafe, online_shop, lean){hint}\n",
    )


LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{last}' if last else 'x'] * 9)}]\n"
    for last, name in zip(["", *"abcdefg"], "abcdefgh", strict=True)
)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            ("id: deep\nwaves: " + "[" * 5000 + "]" * 5000 + "\n").encode(),
            "bad.yaml:2: nested too deep: at most 24 levels of mappings and lists",
        ),
        (
            b"id: photo\n" + bytes(range(256)),
            "bad.yaml: not a UTF-8 text file (byte 0x80 at position 138); save it as UTF-8 YAML",
        ),
        (
            b"id: nul\ntitle: a\x00b\n",
            "bad.yaml:2: not valid YAML: a control character (#x0000) is not allowed",
        ),
        (
            LAUGHS.encode(),
            "bad.yaml: too large: more than 50,000 values (aliases counted as expanded)",
        ),
        (
            b"id: huge\n" + b"# a comment line\n" * 40_000,
            "bad.yaml: too large: a survey file is at most 256 KB",
        ),
    ],
    ids=["deep", "binary", "nul", "aliases", "huge"],
)
def test_cli_check_of_a_file_that_is_no_survey_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)

    assert main(["survey", "check", str(path)]) == 2

    out, err = capsys.readouterr()
    assert (out, err) == ("", f"{tmp_path}/{message}\n")


# -- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", timedelta(minutes=90)),
        ("2h", timedelta(hours=2)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1d 12h", timedelta(days=1, hours=12)),
        ("3w", timedelta(weeks=3)),
        (" 20H ", timedelta(hours=20)),
        ("45s", timedelta(seconds=45)),
        (45, timedelta(seconds=45)),
        (timedelta(days=2), timedelta(days=2)),
    ],
)
def test_parse_duration(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["2x", "", "h", "2h later", "two hours", "-2h", True, 1.5])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


# -- conditions --------------------------------------------------------------------------------


def test_comparison_of_numbers() -> None:
    low = parse_condition("rating <= 3")
    assert low.holds({"rating": Given(number=3)})
    assert not low.holds({"rating": Given(number=4)})
    assert not low.holds({})  # not answered (or skipped): the follow-up is not asked
    assert not low.holds({"rating": Given(option="web")})  # a number needs a number


def test_comparison_of_options() -> None:
    condition = parse_condition("channel != web")
    assert condition.holds({"channel": Given(option="shop")})
    assert not condition.holds({"channel": Given(option="web")})
    assert not condition.holds({"channel": Given(number=1)})


def test_valence_is_compared_not_the_emotion() -> None:
    negative = parse_condition("mood.valence < 0")
    assert negative.holds({"mood": Given(option="anger", valence=-2)})
    assert not negative.holds({"mood": Given(option="joy", valence=1)})
    assert not negative.holds({"mood": Given(number=-1)})
    assert parse_condition("mood.valence >= -1").holds({"mood": Given(option="x", valence=-1)})


def test_and_binds_tighter_than_or() -> None:
    condition = parse_condition("a <= 2 and b == x or c >= 9")
    assert [len(group) for group in condition.any_of] == [2, 1]
    assert condition.holds({"a": Given(number=1), "b": Given(option="x")})
    assert not condition.holds({"a": Given(number=1), "b": Given(option="y")})
    assert not condition.holds({"a": Given(number=3), "b": Given(option="x")})
    assert condition.holds({"a": Given(number=3), "c": Given(number=10)})
    assert not condition.holds({"a": Given(number=3), "c": Given(number=8)})


@pytest.mark.parametrize(
    "text", ["rating", "rating <= ", "Rating <= 3", "rating =< 3", "(a <= 1)", "a <= 1 and"]
)
def test_unreadable_conditions(text: str) -> None:
    with pytest.raises(ConditionError, match="cannot read condition"):
        parse_condition(text)


def test_texts_too_long_for_a_telegram_message_or_button_are_located() -> None:
    long_question = "x" * 1001
    long_label = "L" * 65
    text = changed(
        'text: {ru: "Оценка?", en: "Rating?"}', f'text: {{ru: "Оценка?", en: "{long_question}"}}'
    )
    text = changed(
        'label: {ru: "Сайт", en: "Website"}', f'label: {{ru: "Сайт", en: "{long_label}"}}', text
    )

    assert problems_of(text) == [
        f"s.yaml:{line_of(text, long_question)}: waves[0].questions[0].text.en: "
        "String should have at most 1000 characters",
        f"s.yaml:{line_of(text, long_label)}: waves[0].questions[2].options[0].label.en: "
        "String should have at most 64 characters",
    ]


# -- themes, intents, the actions and thoughts lanes -------------------------------------

THEMES = """\
themes:
  - id: queue
    label: {ru: "Очередь", en: "The queue"}
    words: {ru: [очередь, долго ждать], en: [queue, waited ages]}
"""


def test_themes_intents_and_lanes_are_read() -> None:
    text = changed(
        "    touchpoints:\n",
        '    doing: {ru: "Платит", en: "Pays"}\n'
        '    thinking: {ru: "Быстрее бы", en: "Hurry up"}\n    touchpoints:\n',
    )
    text = changed(
        'text: {ru: "Комментарий?"', 'intent: suggestion\n        text: {ru: "Комментарий?"', text
    )
    survey = parse_survey(text + THEMES, "s.yaml")

    stage = survey.stages[0]
    assert (stage.doing, stage.thinking) == (
        {"ru": "Платит", "en": "Pays"},
        {"ru": "Быстрее бы", "en": "Hurry up"},
    )
    assert survey.themes[0].words == {
        "ru": ["очередь", "долго ждать"],
        "en": ["queue", "waited ages"],
    }
    intents = {q.id: q.comment_intent for q in survey.waves[0].questions if q.kind == "text"}
    assert intents == {"comment": "suggestion", "follow_up": "pain"}  # rating <= 3 → pain


@pytest.mark.parametrize(
    ("condition", "intent"),
    [("rating <= 3", "pain"), ("rating < 2", "pain"), ("rating >= 4", "praise"),
     ("channel == web", None), ("mood.valence < 0", "pain")],
)  # fmt: skip
def test_intent_is_inferred_from_the_condition(condition: str, intent: str | None) -> None:
    survey = parse_survey(with_follow_up(condition), "s.yaml")

    assert survey.waves[0].questions[-1].comment_intent == intent


@pytest.mark.parametrize(
    ("old", "new", "line", "path", "message"),
    [
        ("kind: rating", "kind: rating\n    intent: pain", "intent: pain",
         "waves[0].questions[0].intent", "intent is only for text questions"),
        ("ask_if: rating <= 3", "ask_if: rating <= 3\n    intent: anger", "intent: anger",
         "waves[0].questions[4].intent", "Input should be 'pain', 'praise' or 'suggestion'"),
        ("en: [queue", "de: [queue", "de: [queue", "themes[0].words.de",
         "unknown language 'de': the survey has ru, en"),
        ('label: {ru: "Очередь", en: "The queue"}', 'label: {ru: "Очередь"}', '{ru: "Очередь"}',
         "themes[0].label", "missing translation: en"),
        ("words: {ru: [очередь, долго ждать], en: [queue, waited ages]}", "words: {ru: []}",
         "words:", "themes[0].words.ru", "List should have at least 1 item"),
    ],
)  # fmt: skip
def test_theme_and_intent_mistakes_are_located(
    old: str, new: str, line: str, path: str, message: str
) -> None:
    indent = "\n" + " " * 8
    text = changed(old.replace("\n    ", indent), new.replace("\n    ", indent), BASE + THEMES)

    problems = problems_of(text)

    assert len(problems) == 1, problems
    assert problems[0].startswith(f"s.yaml:{line_of(text, line)}: {path}: {message}"), problems


def test_a_theme_id_written_twice_is_reported() -> None:
    text = BASE + THEMES + THEMES.removeprefix("themes:\n")

    assert any("themes[1].id: duplicate theme id 'queue'" in p for p in problems_of(text))


# -- the owner's ideas per stage (places to improve) -------------------------------------

IDEAS = (
    "    ideas:\n"
    '      - {ru: "Вторая касса в обед", en: "A second till at lunchtime"}\n'
    '      - {ru: "Предзаказ в боте", en: "Pre-order in the bot"}\n'
    "    touchpoints:\n"
)


def test_ideas_are_read_per_stage_in_every_language() -> None:
    survey = parse_survey(changed("    touchpoints:\n", IDEAS), "s.yaml")

    assert survey.stages[0].ideas == [
        {"ru": "Вторая касса в обед", "en": "A second till at lunchtime"},
        {"ru": "Предзаказ в боте", "en": "Pre-order in the bot"},
    ]
    assert parse_survey(BASE, "s.yaml").stages[0].ideas == []  # optional


@pytest.mark.parametrize(
    ("old", "new", "line", "path", "message"),
    [
        ('{ru: "Предзаказ в боте", en: "Pre-order in the bot"}', '{ru: "Предзаказ в боте"}',
         "Предзаказ", "stages[0].ideas[1]", "missing translation: en"),
        ('{ru: "Предзаказ в боте", en: "Pre-order in the bot"}', "Pre-order in the bot",
         "- Pre-order", "stages[0].ideas[1]", "Input should be a valid dictionary"),
        ('en: "A second till at lunchtime"', 'en: ""', "Вторая касса",
         "stages[0].ideas[0].en", "String should have at least 1 character"),
    ],
)  # fmt: skip
def test_idea_mistakes_are_located(old: str, new: str, line: str, path: str, message: str) -> None:
    text = changed(old, new, changed("    touchpoints:\n", IDEAS))

    problems = problems_of(text)

    assert len(problems) == 1, problems
    assert problems[0].startswith(f"s.yaml:{line_of(text, line)}: {path}: {message}"), problems


def test_a_watch_rate_stricter_than_the_problem_rate_is_refused() -> None:
    text = changed(
        "default_locale: en", "default_locale: en\nthresholds: {fdr: 0.1, watch_fdr: 0.05}"
    )
    assert problems_of(text) == [
        "s.yaml:4: thresholds: watch_fdr (0.05) must be at least fdr (0.1)"
    ]
