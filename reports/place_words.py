"""The places to improve (reports.places) in the report's language, one source for the
summary, the PNG map, the HTML report and the API: where (stage · touchpoint), the leading
complaint with its customers, how far the stage falls short, and its expected gain."""

from __future__ import annotations

from dataclasses import dataclass

from reports.places import Place, Places, StagePlaces
from reports.texts import tn
from reports.words import language
from surveys import formats

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Places to improve",
        "theme": "{theme}: {customers} ({share} of the unhappy)",
        "theme_all": "{theme}: {customers}",
        "below": "{stars} stars below target",
        "attention": "needs attention",
        "gain": "expected gain {gain} (90%: {low}–{high}): {share} of what moves NPS × {stars}",
        "by gap": "Ranked by the gap to target alone: what moves NPS cannot be told apart yet.",
        "by gain": (
            "Ranked by expected gain: the stage's share of what moves NPS × the stars it "
            "falls short."
        ),
        "suggest": "Customers suggest",
        "ideas": "Your ideas",
        "idea": "Idea: {idea}",
        "lane by gain": "ranked by expected gain",
        "lane by gap": "ranked by the gap alone: too few NPS answers",
        "nothing": "No stage falls short of its target or has a flagged cell.",
    },
    "ru": {
        "title": "Что улучшить",
        "theme": "{theme}: {customers} ({share} недовольных)",
        "theme_all": "{theme}: {customers}",
        "below": "на {stars} ниже цели",
        "attention": "требует внимания",
        "gain": ("ожидаемый эффект {gain} (90 %: {low}–{high}): {share} влияния на NPS × {stars}"),
        "by gap": (
            "Порядок — по отставанию от цели: что сильнее влияет на NPS, пока не определить."
        ),
        "by gain": (
            "Порядок — по ожидаемому эффекту: доля этапа во влиянии на NPS × на сколько "
            "он ниже цели."
        ),
        "suggest": "Клиенты предлагают",
        "ideas": "Ваши идеи",
        "idea": "Идея: {idea}",
        "lane by gain": "по ожидаемому эффекту",
        "lane by gap": "по отставанию от цели: мало ответов NPS",
        "nothing": "Ни один этап не ниже цели и не отмечен как проблемный.",
    },
}
SUMMARY_PLACES = 3


def words(locale: str) -> dict[str, str]:
    return WORDS[language(locale)]


def _percent(share: float, locale: str) -> str:
    return formats.percent(share, locale)


def _stars(value: float, locale: str, digits: int = 1) -> str:
    return formats.decimal(value, digits, locale)


def where(stage: StagePlaces, place: Place) -> str:
    """ "Retention · Return visit", or "Purchase" for the stage as a whole."""
    return stage.name if place.touchpoint is None else f"{stage.name} · {place.name}"


def theme_text(place: Place, locale: str, index: int = 0) -> str | None:
    """ "Queue and waiting: 12 customers (40 % of the unhappy)"."""
    if len(place.themes) <= index:
        return None
    theme = place.themes[index]
    people = tn(locale, "customers", theme.customers)
    if theme.share is None:
        return words(locale)["theme_all"].format(theme=theme.label, customers=people)
    return words(locale)["theme"].format(
        theme=theme.label, customers=people, share=_percent(theme.share, locale)
    )


def gap_text(stage: StagePlaces, locale: str) -> str | None:
    return words(locale)["below"].format(stars=_stars(stage.gap, locale)) if stage.gap else None


def gain_text(stage: StagePlaces, locale: str) -> str | None:
    """The expected gain with its interval; None when the stages are ranked by the gap
    alone, or the stage is on target (it is a place for its flagged cells)."""
    interval = stage.gain_interval
    if stage.importance is None or interval is None or not stage.gap:
        return None
    return words(locale)["gain"].format(
        gain=_stars(stage.gain or 0, locale, 2), low=_stars(interval[0], locale, 2),
        high=_stars(interval[1], locale, 2), share=_percent(stage.importance[0], locale),
        stars=_stars(stage.gap, locale),
    )  # fmt: skip


def place_line(stage: StagePlaces, place: Place, locale: str) -> str:
    """Where, its leading complaint and the stage's gap: one line of the summary."""
    parts = [p for p in (theme_text(place, locale), gap_text(stage, locale)) if p]
    return f"{where(stage, place)} — " + "; ".join(parts or [words(locale)["attention"]])


def ranking_note(places: Places, locale: str) -> str:
    return words(locale)["by gain" if places.by_gain else "by gap"]


def lane_hint(places: Places, locale: str) -> str:
    """The map lane's short note on how it is ranked."""
    return words(locale)["lane by gain" if places.by_gain else "lane by gap"]


def top_lines(places: Places, locale: str) -> list[str]:
    """ "1. Purchase — Queue and waiting: 12 customers (…)", for the top three places."""
    top = places.top(SUMMARY_PLACES)
    return [f"{n}. {place_line(s, p, locale)}" for n, (s, p) in enumerate(top, 1)]


def summary_lines(places: Places, locale: str) -> list[str]:
    """The summary's first lines: the top three places, numbered, and how they are ranked
    when it is by the gap alone. Nothing when there is no place to improve."""
    top = top_lines(places, locale)
    if not top:
        return []
    lines = [f"{words(locale)['title']}:", *top]
    if not places.by_gain:
        lines.append(words(locale)["by gap"])
    return lines


def lane_lines(places: Places, stage: str, locale: str) -> list[str]:
    """The map's lane for one stage: its rank and gap, then its first two places by their
    leading theme, then the owner's first idea. Empty for a stage that is not a place."""
    found, rank = places.of(stage), places.rank(stage)
    if found is None or rank is None:
        return []
    # Short, for a narrow column: "#1 · −0.7 ★", then each place's leading theme and its
    # customers (or the touchpoint's name when no complaint names a theme).
    lines = [f"#{rank} · −{_stars(found.gap, locale)} ★" if found.gap else f"#{rank}"]
    for place in found.places[:2]:
        theme = place.themes[0] if place.themes else None
        if theme is not None:
            lines.append(f"{theme.label} {theme.customers}")
        elif place.touchpoint is not None:
            lines.append(place.name)
    lines += [words(locale)["idea"].format(idea=idea) for idea in found.ideas[:1]]
    return lines


@dataclass(frozen=True, slots=True)
class PlaceText:
    """A place, worded: for the HTML report and the API."""

    where: str
    level: str  # its cell's flag level
    reason: str  # the flag's sentence, empty when the cell is not flagged
    themes: tuple[str, ...]  # "Queue and waiting: 12 customers (40 % of the unhappy)"
    quote: str | None  # a complaint of its leading theme
    sentence: str  # the summary's line


@dataclass(frozen=True, slots=True)
class StageText:
    rank: int
    stage: str
    name: str
    gap: str | None
    gain: str | None
    places: tuple[PlaceText, ...]
    suggestions: tuple[str, ...]
    ideas: tuple[str, ...]


def stage_texts(places: Places, locale: str) -> list[StageText]:
    return [
        StageText(
            rank, stage.stage, stage.name, gap_text(stage, locale), gain_text(stage, locale),
            tuple(_place_text(stage, place, locale) for place in stage.places),
            stage.suggestions, stage.ideas,
        )
        for rank, stage in enumerate(places.stages, 1)
    ]  # fmt: skip


def _place_text(stage: StagePlaces, place: Place, locale: str) -> PlaceText:
    themes = tuple(t for i in range(len(place.themes)) if (t := theme_text(place, locale, i)))
    quote = place.themes[0].quotes[0] if place.themes and place.themes[0].quotes else None
    return PlaceText(
        where(stage, place), place.level.value, place.reason, themes, quote,
        place_line(stage, place, locale),
    )  # fmt: skip
