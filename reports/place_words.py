"""The places to improve (reports.places) in the report's language, one source for the
summary, the PNG map, the HTML report and the API: where (stage · touchpoint), the leading
complaint with its customers, how far the stage falls short, and its expected gain."""

from __future__ import annotations

from dataclasses import dataclass

from reports.places import Place, Places, StagePlaces
from reports.texts import t, table, tn
from surveys import formats

# The catalog's place_<name> messages, for the templates (templates/places*.html).
WORDS = (
    "title", "theme", "theme_all", "below", "attention", "gain", "by gap", "by gain", "suggest",
    "ideas", "idea", "lane by gain", "lane by gap",
)  # fmt: skip
SUMMARY_PLACES = 3


def words(locale: str) -> dict[str, str]:
    return table(locale, "place_", WORDS)


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
        return t(locale, "place_theme_all", theme=theme.label, customers=people)
    return t(
        locale, "place_theme", theme=theme.label, customers=people,
        share=_percent(theme.share, locale),
    )  # fmt: skip


def gap_text(stage: StagePlaces, locale: str) -> str | None:
    return t(locale, "place_below", stars=_stars(stage.gap, locale)) if stage.gap else None


def gain_text(stage: StagePlaces, locale: str) -> str | None:
    """The expected gain with its interval; None when the stages are ranked by the gap
    alone, or the stage is on target (it is a place for its flagged cells)."""
    interval = stage.gain_interval
    if stage.importance is None or interval is None or not stage.gap:
        return None
    return t(
        locale, "place_gain", gain=_stars(stage.gain or 0, locale, 2),
        low=_stars(interval[0], locale, 2), high=_stars(interval[1], locale, 2),
        share=_percent(stage.importance[0], locale), stars=_stars(stage.gap, locale),
    )  # fmt: skip


def place_line(stage: StagePlaces, place: Place, locale: str) -> str:
    """Where, its leading complaint and the stage's gap: one line of the summary."""
    parts = [p for p in (theme_text(place, locale), gap_text(stage, locale)) if p]
    return f"{where(stage, place)} — " + "; ".join(parts or [t(locale, "place_attention")])


def ranking_note(places: Places, locale: str) -> str:
    return t(locale, "place_by_gain" if places.by_gain else "place_by_gap")


def lane_hint(places: Places, locale: str) -> str:
    """The map lane's short note on how it is ranked."""
    return t(locale, "place_lane_by_gain" if places.by_gain else "place_lane_by_gap")


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
    lines = [f"{t(locale, 'place_title')}:", *top]
    if not places.by_gain:
        lines.append(t(locale, "place_by_gap"))
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
    lines += [t(locale, "place_idea", idea=idea) for idea in found.ideas[:1]]
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
    themes = tuple(
        text for i in range(len(place.themes)) if (text := theme_text(place, locale, i))
    )
    quote = place.themes[0].quotes[0] if place.themes and place.themes[0].quotes else None
    return PlaceText(
        where(stage, place), place.level.value, place.reason, themes, quote,
        place_line(stage, place, locale),
    )  # fmt: skip
