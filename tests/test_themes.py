"""Reading comments: themes by lemma and stem, and pain, praise and suggestions apart."""

from __future__ import annotations

import re

import pytest

from bench.themes import labelled, score
from surveys.loader import load_survey
from surveys.model import Intent
from surveys.themes import find_themes, matchers, read, themes_of


@pytest.fixture(scope="module")
def cafe() -> tuple[object, ...]:
    return matchers(load_survey("cafe").themes)


@pytest.mark.parametrize(
    "text",
    ["очередь", "Стоял в очереди", "очередюга до двери", "очерредь", "долго ждал",
     "ждал очень долго", "ждали долго", "The queue", "queued for ages", "waited ages",
     "I waited for ages"],
)  # fmt: skip
def test_inflections_word_order_and_typos_find_the_queue(text: str, cafe: tuple) -> None:
    assert themes_of(text, cafe) == ["queue"]


def test_a_denied_theme_is_praise_of_it_not_a_complaint(cafe: tuple) -> None:
    for text in ("Очереди не было, спасибо", "No queue at all, great"):
        found = find_themes(text, cafe)
        reading = read(text, None, low=False, found=found)

        assert found.themes == ()
        assert (reading.intent, reading.pain, found.of(reading.intent)) == (
            Intent.PRAISE, False, ("queue",),
        )  # fmt: skip


def test_an_absence_listed_as_a_phrase_is_a_complaint(cafe: tuple) -> None:
    assert themes_of("Нет розеток", cafe) == ["wifi_sockets"]
    assert themes_of("no sockets to charge", cafe) == ["wifi_sockets"]


@pytest.mark.parametrize("low", [False, True])
def test_an_answer_to_a_praise_question_is_never_pain(low: bool, cafe: tuple) -> None:
    text = "The cinnamon buns and the playlist, but the queue was long"
    reading = read(text, Intent.PRAISE, low, find_themes(text, cafe))

    assert reading == read(text, Intent.PRAISE, low) and not reading.pain
    assert reading.intent is Intent.PRAISE


@pytest.mark.parametrize(
    ("text", "asked", "low", "intent", "pain"),
    [
        ("Добавьте овсяное молоко", None, False, "suggestion", False),
        ("Put a sign at the entrance", None, False, "suggestion", False),
        ("Хорошо бы больше столиков", None, True, "suggestion", True),
        ("Отличный сервис, ждал всего-то 40 минут", None, False, "pain", True),
        ("не вкусно", None, False, "pain", True),
        ("not expensive at all", None, False, "praise", False),
        ("Всё хорошо", None, True, "praise", False),
        ("нет", Intent.PAIN, True, None, False),
        ("очередь", Intent.PAIN, False, "pain", True),
        ("сделайте вторую кассу", Intent.PAIN, True, "suggestion", True),
        ("больше кассиров", Intent.SUGGESTION, False, "suggestion", False),
    ],
)  # fmt: skip
def test_pain_praise_and_suggestions(
    text: str, asked: Intent | None, low: bool, intent: str | None, pain: bool
) -> None:
    reading = read(text, asked, low)

    assert (reading.intent, reading.pain) == (intent, pain)


def test_the_labelled_comments_are_read_well_enough() -> None:
    rows = labelled()
    russian = sum(bool(re.search("[а-яё]", r.text, re.IGNORECASE)) for r in rows)

    result = score(rows)

    assert len(rows) >= 300 and 100 <= russian <= len(rows) - 100
    assert result.precision >= 0.90, result.misses
    assert result.recall >= 0.85, result.misses
    assert result.intent_accuracy >= 0.90, result.misses


# -- the bundled templates ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["cafe", "online_shop", "lean"])
def test_templates_ship_themes_lanes_and_intents_in_both_languages(name: str) -> None:
    survey = load_survey(name)

    assert len(survey.themes) >= 7
    assert all(set(t.words) == {"ru", "en"} == set(t.label) for t in survey.themes)
    assert all(s.doing and s.thinking and set(s.doing) == set(s.thinking) == {"ru", "en"}
               for s in survey.stages)  # fmt: skip
    texts = [q for w in survey.waves for q in w.questions if q.kind == "text"]
    assert texts and all(q.comment_intent is not None for q in texts)
    loved = [q for q in texts if "like most" in q.text["en"]]
    assert loved and all(q.comment_intent is Intent.PRAISE for q in loved)


@pytest.mark.parametrize(
    ("name", "text", "theme"),
    [("online_shop", "Курьер опоздал на три часа", "delivery_time"),
     ("online_shop", "коробка была помята", "packaging"),
     ("online_shop", "the app crashed at checkout", "site_usability"),
     ("online_shop", "не могу дозвониться в поддержку", "support"),
     ("lean", "менеджер так и не перезвонил", "response_time"),
     ("lean", "They never called back", "response_time"),
     ("lean", "Expensive for what it is", "prices")],
)  # fmt: skip
def test_template_themes_find_what_customers_write(name: str, text: str, theme: str) -> None:
    assert themes_of(text, matchers(load_survey(name).themes))[0] == theme


@pytest.mark.parametrize(
    ("name", "with_emotion"),
    [("lean", {"lead_generation", "first_purchase", "repeat_sales"}),
     ("cafe", {"interest", "consideration", "purchase", "retention", "loyalty"})],
)  # fmt: skip
def test_templates_ask_for_an_emotion_at_the_stages_of_their_waves(
    name: str, with_emotion: set[str]
) -> None:
    survey = load_survey(name)

    asked = {q.stage for w in survey.waves for q in w.questions if q.kind == "emotion"}
    assert asked == with_emotion
    for wave in survey.waves:
        # At most six questions a customer sees: the unconditional ones and at most one
        # follow-up per question they depend on.
        plain = [q for q in wave.questions if q.condition is None]
        sources = {q.condition.comparisons[0].question_id for q in wave.questions if q.condition}
        assert len(plain) + len(sources) <= 6, wave.id
