"""The self-contained HTML report (SPEC §4 "Outputs"): one file that opens offline in any
browser — inline CSS and SVG, the PNG map (when given) as a data: URI, no scripts and no
external requests. Numbers are formatted here; the Jinja2 template (autoescaped, so
customer comments are always escaped) only lays them out, with its words in the report's
language (the catalog's html_* messages, see README, Translations)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, timedelta
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from reports import lanes
from reports.aggregate import Comment
from reports.alerts import alerts_fact
from reports.flags import customers, span
from reports.levels import Level
from reports.place_words import lane_lines, ranking_note, stage_texts
from reports.place_words import words as place_words
from reports.priority_words import explanation, headline, sentences
from reports.render_funnel import funnel_view
from reports.report import Cell, Report, StageRow, period_name
from reports.texts import t, table, tn
from reports.themes import ThemeFigure
from reports.words import days, language
from surveys.formats import decimal_sign, number, percent

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE = "report.html"
COMMENTS_SHOWN = 3
MINUS = "−"

# CSS class per flag level; the template colours the cells by it.
LEVEL_CLASS = {
    Level.PROBLEM: "problem",
    Level.WATCH: "watch",
    Level.OK: "ok",
    Level.NOT_ENOUGH_DATA: "nodata",
}
# The page's words: the catalog's html_<name> messages, by their names here, and the flags'.
TEXTS = (
    "kind", "period", "segment", "everyone", "answers", "response", "generated", "by_wave", "map",
    "no_answers", "no_answers_segment", "legend", "stage", "flag", "rating", "mood_row",
    "response_hint", "curve", "curve_label", "image", "image_caption", "key", "customers",
    "too few", "not yet", "stages", "change_against", "was", "no_comparison", "touchpoint",
    "short_rating", "change", "why", "said", "rated", "low", "how", "average rating", "CSAT",
    "NPS", "mood", "pts",
)  # fmt: skip
# "How to read this", item by item: the catalog's html_how_<name>, HTML with its tags.
HOW_TO_READ = ("rating", "nps", "mood", "unit", "flags", "changes", "response", "low")


def level_labels(lang: str) -> dict[str, str]:
    """Flag level → its name on the map, the page and the XLSX: "Problem", "Проблема"."""
    return table(lang, "level_", [level.value for level in Level])


def page_texts(lang: str) -> dict[str, str]:
    return table(lang, "html_", TEXTS) | level_labels(lang)


def how_to_read(lang: str, texts: Mapping[str, str], previous: str, changes: bool) -> list[Markup]:
    """The explanations at the page's end (the ▲▼ one only when there are changes); the
    catalog's HTML, its values escaped."""
    values = {
        "problem": texts["problem"], "watch": texts["watch"],
        "not_enough": texts["not enough data"], "low": texts["low"], "previous": previous,
    }  # fmt: skip
    shown = [name for name in HOW_TO_READ if changes or name != "changes"]
    return [Markup(t(lang, f"html_how_{name}")).format(**values) for name in shown]


# The mood curve (inline SVG): valence −2…+2 drawn over this many pixels.
CURVE_STEP = 120
CURVE_HEIGHT = 120
CURVE_PAD = 20


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _fixed(value: float, digits: int, signed: bool = False, lang: str = "en") -> str:
    """3.2 / 3,2 (the language's decimal sign), a real minus, no "−0"."""
    text = f"{value:.{digits}f}"
    if float(text) == 0:
        text = text.lstrip("-")
    elif text.startswith("-"):
        text = MINUS + text[1:]
    elif signed:
        text = "+" + text
    return text.replace(".", decimal_sign(lang))


def _or_dash(
    value: float | None, digits: int, scale: float = 1.0, signed: bool = False, lang: str = "en"
) -> str:
    return "—" if value is None else _fixed(value * scale, digits, signed, lang)


def _percent(share: float, lang: str) -> str:
    return percent(share, lang)


@dataclass(frozen=True)
class Delta:
    """One change against the previous period, ready to show: ▲ 0.3 (was 4.1)."""

    arrow: str  # ▲ ▼ or =
    direction: str  # up, down, flat: a CSS class
    amount: str
    before: str


@dataclass(frozen=True)
class CellView:
    name: str
    level: str  # CSS class
    label: str
    sentence: str
    answers: int
    rating: str  # with the 90 % interval of the customer-level estimate
    csat: str
    nps: str
    mood: str
    customers: int
    changes: tuple[tuple[str, Delta], ...]  # (metric, change) where both periods have it


@dataclass(frozen=True)
class CommentView:
    text: str
    date: str
    touchpoint: str | None
    rating: int | None
    low: bool


@dataclass(frozen=True)
class ThemeView:
    label: str
    customers: int
    share: str
    change: Delta | None
    where: str  # the touchpoints it was said about, with their counts
    quotes: tuple[str, ...]


@dataclass(frozen=True)
class VoiceView:
    """The stage's voice lanes (reports.lanes): for the map's rows and the stage section."""

    doing: str | None
    thinking: str | None
    unhappy: int
    unhappy_text: str  # "3 unhappy customers"
    pain: tuple[ThemeView, ...]
    pain_quotes: tuple[str, ...]
    uncovered: str
    love: tuple[str, ...]  # the map row: themes, or a quote
    love_quotes: tuple[str, ...]
    ideas: tuple[str, ...]
    choices: tuple[tuple[str, tuple[str, ...]], ...]  # question, its top answers
    map_pain: tuple[str, ...]
    map_love: tuple[str, ...]
    map_ideas: tuple[str, ...]
    map_choices: tuple[str, ...]


@dataclass(frozen=True)
class StageView:
    id: str
    cell: CellView
    touchpoints: tuple[CellView, ...]
    comments: tuple[CommentView, ...]
    response: str  # 72% (36/50): answered of sent waves that ask about the stage
    voice: VoiceView | None = None


@dataclass(frozen=True)
class _Metric:
    name: str
    digits: int
    scale: float = 1.0
    points: bool = False  # CSAT and NPS change by (percentage) points
    before_unit: str = ""
    signed: bool = False  # NPS and mood are shown with their sign


_RATING = _Metric("average rating", 1)
_CSAT = _Metric("CSAT", 0, 100.0, points=True, before_unit="%")
_NPS = _Metric("NPS", 0, points=True, signed=True)
_MOOD = _Metric("mood", 1, signed=True)


def _delta(
    metric: _Metric, now: float, before: float, texts: dict[str, str], lang: str = "en"
) -> Delta:
    diff = (now - before) * metric.scale
    shown = _fixed(abs(diff), metric.digits, lang=lang)
    if not any(c in "123456789" for c in shown):
        arrow, direction = "=", "flat"
    elif diff > 0:
        arrow, direction = "▲", "up"
    else:
        arrow, direction = "▼", "down"
    if metric.before_unit == "%":
        was = _percent(before, lang)
    else:
        was = _fixed(before * metric.scale, metric.digits, metric.signed, lang)
    return Delta(arrow, direction, shown + (texts["pts"] if metric.points else ""), was)


def _changes(cell: Cell, texts: dict[str, str], lang: str) -> tuple[tuple[str, Delta], ...]:
    now, before = cell.figures, cell.previous
    pairs = [
        (_RATING, now.average_rating, before.average_rating),
        (_CSAT, now.csat, before.csat),
        (_NPS, now.nps, before.nps),
        (_MOOD, now.mean_valence, before.mean_valence),
    ]
    return tuple(
        (texts[metric.name], _delta(metric, a, b, texts, lang))
        for metric, a, b in pairs
        if a is not None and b is not None
    )


def _interval(cell: Cell, metric: str, lang: str) -> str:
    """The estimate's 90 % interval, " (3.9…4.4)", or nothing below the customers needed."""
    estimate = cell.estimates.get(metric)
    return "" if estimate is None else f" ({span(metric, estimate, locale=lang)})"


def _cell(cell: Cell, texts: dict[str, str], lang: str) -> CellView:
    f = cell.figures
    if f.nps_too_few:
        nps = texts["too few"]
    else:
        nps = _or_dash(cell.figure("nps"), 0, signed=True, lang=lang)
        nps += _interval(cell, "nps", lang)
    csat_value = cell.figure("csat")
    csat = "—" if csat_value is None else _percent(csat_value, lang)
    csat += _interval(cell, "csat", lang) if csat_value is not None else ""
    return CellView(
        name=cell.name,
        level=LEVEL_CLASS[cell.flag.level],
        label=texts[cell.flag.level.value],
        sentence=cell.flag.sentence,
        answers=f.answers,
        rating=_or_dash(cell.figure("rating"), 1, lang=lang) + _interval(cell, "rating", lang),
        csat=csat,
        nps=nps,
        customers=cell.customers,
        mood=_or_dash(f.mean_valence, 1, signed=True, lang=lang),
        changes=_changes(cell, texts, lang),
    )


def _comment(comment: Comment, touchpoints: dict[str, str]) -> CommentView:
    where = comment.touchpoint
    return CommentView(
        text=comment.text,
        date=f"{comment.answered_at:%d.%m.%Y}",
        touchpoint=touchpoints.get(where, where) if where is not None else None,
        rating=comment.rating,
        low=comment.low,
    )


def has_changes(stages: list[StageView]) -> bool:
    return any(s.cell.changes or any(tp.changes for tp in s.touchpoints) for s in stages)


def _stage(row: StageRow, texts: dict[str, str], report: Report) -> StageView:
    lang = language(report.locale)
    names = {tp.id: tp.name for tp in row.touchpoints}
    return StageView(
        id=row.stage.id,
        cell=_cell(row.stage, texts, lang),
        touchpoints=tuple(_cell(tp, texts, lang) for tp in row.touchpoints),
        comments=tuple(_comment(c, names) for c in row.comments[:COMMENTS_SHOWN]),
        response=_response(row, lang),
        voice=_voice(report, row, texts, names) if lanes.has_voices(report) else None,
    )


def _theme(figure: ThemeFigure, where: str, texts: dict[str, str], locale: str) -> ThemeView:
    change = None
    if figure.change is not None and figure.share is not None:
        before = figure.share - figure.change
        change = _delta(_CSAT, figure.share, before, texts, language(locale))
    quotes = tuple(lanes.quote(q, locale) for q in figure.quotes)
    share = lanes.percent(figure.share, locale)
    return ThemeView(figure.label, figure.customers, share, change, where, quotes)


def _voice(
    report: Report, row: StageRow, texts: dict[str, str], names: dict[str, str]
) -> VoiceView:
    said, locale = lanes.voice_of(report, row), report.locale

    def where(theme: str) -> str:
        places = [
            f"{names.get(tp, tp)} {f.customers}"
            for tp, figures in said.touchpoints.items()
            for f in figures
            if f.id == theme
        ]
        return ", ".join(places)

    def shown(lines: list[lanes.Line]) -> tuple[str, ...]:
        return tuple(line.text for line in lines)

    return VoiceView(
        doing=said.doing,
        thinking=said.thinking,
        unhappy=said.unhappy,
        unhappy_text=lanes.unhappy(said.unhappy, locale),
        pain=tuple(_theme(f, where(f.id), texts, locale) for f in said.pain),
        pain_quotes=tuple(lanes.quote(q, locale) for q in said.pain_quotes),
        uncovered=", ".join(f"{t.text} ({t.customers})" for t in said.uncovered),
        love=tuple(lanes.theme_line(f, with_share=False) for f in said.praise),
        love_quotes=tuple(lanes.quote(q, locale) for q in said.praise_quotes),
        ideas=tuple(lanes.quote(q, locale) for q in said.suggestion_quotes),
        choices=tuple(
            (
                q.text,
                tuple(
                    f"{c.label} — {lanes.percent(c.share, locale)} ({c.answers})" for c in q.top
                ),
            )
            for q in said.choices
        ),
        map_pain=shown(lanes.pain_lines(said, row, locale)),
        map_love=shown(lanes.love_lines(said, locale)),
        map_ideas=shown(lanes.idea_lines(said, locale)),
        map_choices=shown(lanes.choice_lines(said.choices, locale)),
    )


def _response(row: StageRow, lang: str) -> str:
    answered, sent = row.response
    if not sent:
        return "—"
    return f"{_percent(answered / sent, lang)} ({answered}/{sent})"


@dataclass(frozen=True)
class Curve:
    """The mood curve as SVG coordinates; stages without a mood leave a gap."""

    width: int
    height: int
    zero: float  # y of valence 0
    lines: tuple[str, ...]  # polyline points of the runs without gaps
    dots: tuple[tuple[float, float, str, str, float, float], ...]  # x, y, class, label, at
    labels: tuple[tuple[float, str], ...]  # x, stage name
    bridges: tuple[str, ...] = ()  # dashed segments across stages without a mood


def _curve(report: Report) -> Curve | None:
    if not any(row.stage.figures.mean_valence is not None for row in report.stages):
        return None
    inner = CURVE_HEIGHT - 2 * CURVE_PAD

    def y(valence: float) -> float:
        return round(CURVE_PAD + (2 - valence) / 4 * inner, 1)

    lines: list[str] = []
    run: list[str] = []
    dots = []
    labels = []
    bridges: list[str] = []
    last: tuple[int, str] | None = None  # the latest stage with a mood: index, point
    for i, row in enumerate(report.stages):
        x = CURVE_STEP / 2 + i * CURVE_STEP
        labels.append((x, row.stage.name))
        valence = row.stage.figures.mean_valence
        if valence is None:
            if len(run) > 1:
                lines.append(" ".join(run))
            run = []
            continue
        point = f"{x},{y(valence)}"
        if last is not None and last[0] < i - 1:
            bridges.append(f"{last[1]} {point}")
        last = (i, point)
        run.append(point)
        at = y(valence)
        level = LEVEL_CLASS[row.stage.flag.level]
        label = _fixed(valence, 1, True, language(report.locale))
        dots.append((x, at, level, label, x + 9, round(at - 8, 1)))
    if len(run) > 1:
        lines.append(" ".join(run))
    return Curve(
        CURVE_STEP * len(report.stages),
        CURVE_HEIGHT + 24,
        y(0),
        tuple(lines),
        tuple(dots),
        tuple(labels),
        tuple(bridges),
    )


def _priorities(report: Report) -> tuple[str, list[str], str]:
    """The "what to fix first" line, each stage's sentence, and how to read them."""
    names = {row.stage.id: row.stage.name for row in report.stages}
    if not report.judged:
        return "", [], ""
    return (
        headline(report.priorities, names, report.locale),
        sentences(report.priorities, names, report.locale),
        explanation(report.locale),
    )


def _verdict_line(report: Report, texts: dict[str, str]) -> str | None:
    """Said when no stage could be judged: never an "all fine" without evidence."""
    if report.judged or report.answers == 0:
        return None
    have = customers(report.customers, report.locale)
    return texts["not yet"].format(have=have, needed=report.min_customers)


def _waves(
    report: Report, names: Mapping[str, str] | None, texts: dict[str, str]
) -> list[tuple[str, str, int, int]]:
    """(name, rate, answered, sent) per wave that was sent, in the survey's order."""
    rates = report.response_rates
    named = dict(names or {})
    for wave in sorted(rates):
        named.setdefault(wave, t(report.locale, "wave_n", n=len(named) + 1))
    shown = []
    for wave, name in named.items():
        answered, sent = rates.get(wave, (0, 0))
        if sent:
            rate = _percent(answered / sent, language(report.locale))
            shown.append((name, rate, answered, sent))
    return shown


def of_waves(answered: int, sent: int, lang: str) -> str:
    """ "4 of 6 waves", "1 of 1 wave"; "4 из 6 волн", "1 из 21 волны" (genitive after "из")."""
    return tn(lang, "of_waves", sent, a=number(answered, lang))


def render_html(
    report: Report, map_png: bytes | None = None, waves: Mapping[str, str] | None = None
) -> str:
    """The report as one self-contained HTML page, in the report's language; `waves` names
    the waves (reports.words.wave_names), "Wave 1"… without it."""
    lang = language(report.locale)
    texts = page_texts(lang)
    period = report.period
    shown_period = days(period.start, period.end - timedelta(days=1))
    rate = report.response_rate
    answered = sum(a for a, _ in report.response_rates.values())
    sent = sum(s for _, s in report.response_rates.values())
    png = base64.b64encode(map_png).decode("ascii") if map_png else None
    stages = [_stage(row, texts, report) for row in report.stages]
    template = _environment().get_template(TEMPLATE)
    return template.render(
        title=report.title,
        locale=report.locale,
        lang=lang,
        t=texts,
        period=shown_period,
        days=tn(lang, "days", period.days),
        previous=period_name(period, lang),
        how=how_to_read(lang, texts, period_name(period, lang), has_changes(stages)),
        segment=report.segment,
        answers=report.answers,
        response_rate=None if rate is None else _percent(rate, lang),
        of_waves=of_waves(answered, sent, lang),
        waves=_waves(report, waves, texts),
        generated_at=report.generated_at.astimezone(UTC).strftime("%d.%m.%Y %H:%M UTC"),
        stages=stages,
        has_changes=has_changes(stages),
        v=lanes.names(report.locale),
        voices=lanes.has_voices(report),
        curve=_curve(report),
        priorities=_priorities(report),
        not_yet=_verdict_line(report, texts),
        map_png=png,
        alerts=alerts_fact(report.alerts, report.locale),
        funnel=funnel_view(report.funnel, report.locale),
        **_places(report),
    )


def _places(report: Report) -> dict[str, object]:
    """The "places to improve" row and section (templates/places*.html)."""
    locale, places = report.locale, report.places
    return {
        "places": stage_texts(places, locale),
        "places_lane": {row.stage.id: lane_lines(places, row.stage.id, locale)
                        for row in report.stages},
        "places_note": ranking_note(places, locale),
        "pw": place_words(locale),
        "level_class": {level.value: css for level, css in LEVEL_CLASS.items()},
        "quote": lambda text: lanes.quote(text, locale),
    }  # fmt: skip


def stage_views(report: Report) -> tuple[dict[str, str], list[StageView]]:
    """The page's words in the report's language and each stage as the page shows it: for
    other renderers (the PDF's stage pages) that show the same."""
    texts = page_texts(language(report.locale))
    return texts, [_stage(row, texts, report) for row in report.stages]
