"""The PNG map (SPEC §4 "Reports", Outputs): stages as columns; lanes for touchpoints,
average rating, CSAT, NPS (where asked), the emotion curve, answers, response rate (over the
waves that ask about the stage) and pain points; every column tinted by its stage's flag;
period, segment and n in the title.

Sized for Telegram on a phone: 1600×1400 px, and no text smaller than 13 pt at 100 dpi
(18 px), which stays ≥ 14 px when Telegram scales photos down to 1280 px.

The voice lanes (reports.lanes) frame the figures: what the customer does and thinks at
each stage above them; below, the pain points (themes with counts, then quotes — never
praise), the places to improve (each stage's rank, gap and places: reports.places), what
customers love, what they suggest, and the top answers of choice questions.

`render_png` uses matplotlib's object API only (a `Figure` with its own Agg canvas, never
pyplot's global state), so it may run in a worker thread; `render_png_async` does, because
a render takes a few hundred milliseconds that must not stall the bot's event loop."""

from __future__ import annotations

import asyncio
import io
import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Rectangle
from matplotlib.textpath import TextToPath

from reports import lanes as voice
from reports import place_words
from reports.aggregate import Period
from reports.flags import span
from reports.levels import Level
from reports.priority_words import headline
from reports.report import Cell, Report, StageRow
from reports.texts import t, table, tn
from reports.words import answers as counted_answers
from reports.words import days, language
from surveys.formats import decimal, decimal_sign, percent

WIDTH, HEIGHT, DPI = 1600, 1400, 100  # pixels; 16 × 14 inches at 100 dpi
FONT = "DejaVu Sans"  # matplotlib's bundled default: Latin, Cyrillic, ★ ▲ ▼ …
SMALL = 13.0  # pt: the smallest text on the map (18 px at 100 dpi)
LINE = 22.0  # px per line of SMALL text
QUOTE_CHARS = 60  # a pain-point quote longer than this is cut with an ellipsis
MISSING = "—"
_BREAKS = re.compile(r"[ \t\r\n]+")  # where text may wrap: not at a no-break space
VALENCE_LIMIT = 2.0  # the emotion scale is −2…+2
TEXT_LANE_LINES = 3  # the doing, thinking, love, ideas and top answers lanes
LANE_LINES = {"places": 4}  # rank and gap, two places, the owner's idea

MARGIN = 16.0
LABEL_WIDTH = 190.0  # the lane names on the left
TITLE_HEIGHT = 112.0
EMOTION_MAX = 230.0  # px: a taller curve only spreads the points apart
FOOTER_HEIGHT = 70.0

# level → (column tint, header fill, text colour)
COLOURS: dict[Level, tuple[str, str, str]] = {
    Level.PROBLEM: ("#fbe0dd", "#ef9a92", "#b3261e"),
    Level.WATCH: ("#fdf0cf", "#f6c85f", "#8a5300"),
    Level.OK: ("#e8f5e6", "#a5d6a0", "#1b6e2f"),
    Level.NOT_ENOUGH_DATA: ("#ececec", "#c4c4c4", "#616161"),
}
SEVERITY = {Level.NOT_ENOUGH_DATA: 0, Level.OK: 1, Level.WATCH: 2, Level.PROBLEM: 3}
GRID = "#ffffff"
INK = "#1f1f1f"
MUTED = "#5a5a5a"
POSITIVE, NEUTRAL, NEGATIVE = "#2e7d32", "#b7791f", "#c62828"

# The map's words: the catalog's map_<name> messages, by their names here.
LABELS = (
    "touchpoints", "rating", "csat", "csat_hint", "nps", "nps_hint", "emotion", "emotion_hint",
    "answers", "response_lane", "pain", "segment", "everyone", "n", "response", "of", "worst",
    "all_ok", "no_data", "too few", "waves", "pts", "made", "more",
)  # fmt: skip


def labels(lang: str) -> dict[str, str]:
    """The map's words in `lang`, and the flags' names by their levels."""
    return table(lang, "map_", LABELS) | table(lang, "level_", [level.value for level in Level])


def map_lane_texts(report: Report, waves: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """What the map shows, lane by lane (title, header, pain, love…): its texts in order."""
    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    drawn = MapDrawing(report, figure, waves)
    drawn.draw()
    return drawn.drawn


def render_png(report: Report, waves: Mapping[str, str] | None = None) -> bytes:
    """The map as PNG bytes, WIDTH × HEIGHT pixels. Pure and synchronous: safe to call from
    a worker thread (see render_png_async), never from the event loop. `waves` names the
    waves in the report's language (reports.words.wave_names); without it, "Wave 1"…"""
    figure = _drawn(report, waves)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


async def render_png_async(report: Report, waves: Mapping[str, str] | None = None) -> bytes:
    """render_png in a worker thread, so the event loop keeps handling updates."""
    return await asyncio.to_thread(render_png, report, waves)


def map_texts(report: Report, waves: Mapping[str, str] | None = None) -> list[str]:
    """Every text written on the map, top to bottom as drawn: what a reader sees."""
    figure = _drawn(report, waves)
    return [text.get_text() for axes in figure.axes for text in axes.texts]


def _drawn(report: Report, waves: Mapping[str, str] | None) -> Figure:
    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)  # the figure's own canvas: no pyplot, no global state
    MapDrawing(report, figure, waves).draw()
    return figure


@dataclass(frozen=True)
class Geometry:
    """Where the map is drawn: `width` × `height` units (pixels of the PNG), text sized
    `scale` times the PNG's — the PDF's A4 page draws the same map smaller."""

    width: float = WIDTH
    height: float = HEIGHT
    scale: float = 1.0


@dataclass(frozen=True)
class _Lane:
    key: str
    height: float


class MapDrawing:
    """The journey map drawn on a matplotlib figure: the PNG's whole picture, and the PDF's
    first page (reports.render_pdf, with its own Geometry). Draws in pixel coordinates: x to
    the right, y downwards from the top-left corner; `draw()` draws it all."""

    def __init__(
        self,
        report: Report,
        figure: Figure,
        waves: Mapping[str, str] | None = None,
        geometry: Geometry | None = None,
    ) -> None:
        shape = geometry or Geometry()
        self.page_width, self.page_height, self.scale = shape.width, shape.height, shape.scale
        self.report = report
        self.figure = figure
        self.waves = waves
        self.arrows = False  # whether a cell shows a change: the ▲▼ legend is for them
        self.measure = TextToPath()  # outlines at 72 dpi; a hair wider than Agg's text
        self.lang = language(report.locale)
        self.labels = labels(self.lang)
        self.ax = figure.add_axes((0, 0, 1, 1))
        self.ax.set_xlim(0, self.page_width)
        self.ax.set_ylim(self.page_height, 0)
        self.ax.set_axis_off()
        stages = max(1, len(report.stages))
        self.left = MARGIN + LABEL_WIDTH
        self.column = (self.page_width - MARGIN - self.left) / stages
        self.has_nps = any(row.stage.figures.nps is not None for row in report.stages)
        self.lane_key = "title"
        self.drawn: dict[str, list[str]] = {}  # lane → its texts, for tests

    # ---- text helpers ---------------------------------------------------------------

    def text(
        self,
        x: float,
        y: float,
        text: str,
        size: float = SMALL,
        *,
        weight: str = "normal",
        color: str = INK,
        ha: str = "left",
        va: str = "top",
        style: str = "normal",
        **extra: Any,
    ) -> None:
        self.drawn.setdefault(self.lane_key, []).append(text)
        self.ax.text(
            x, y, text, fontsize=size * self.scale, fontfamily=FONT, fontweight=weight,
            color=color, ha=ha, va=va, fontstyle=style, parse_math=False, **extra,
        )  # fmt: skip

    def width(self, text: str, size: float = SMALL, weight: str = "normal") -> float:
        prop = FontProperties(family=FONT, size=size, weight=weight)
        width, _, _ = self.measure.get_text_width_height_descent(text, prop, ismath=False)
        return float(width) * DPI / 72

    def wrap(
        self, text: str, width: float, size: float = SMALL, weight: str = "normal"
    ) -> list[str]:
        """Greedy word wrap to `width` pixels, measured with the real font; words longer
        than a line are cut. Breaks at ordinary spaces only: a no-break space keeps
        "38 %" (Babel's Russian percent) together."""
        lines: list[str] = []
        current = ""
        for word in _BREAKS.split(text.strip(" \t\r\n")):
            candidate = f"{current} {word}" if current else word
            if self.width(candidate, size, weight) <= width:
                current = candidate
                continue
            if current:
                lines.append(current)
            rest = word
            while self.width(rest, size, weight) > width and len(rest) > 1:
                cut = len(rest) - 1
                while cut > 1 and self.width(rest[:cut], size, weight) > width:
                    cut -= 1
                lines.append(rest[:cut])
                rest = rest[cut:]
            current = rest
        if current:
            lines.append(current)
        return lines or [""]

    def fit(self, text: str, width: float, size: float = SMALL, weight: str = "normal") -> str:
        """`text` on one line, cut with an ellipsis if it is wider than `width` pixels."""
        if self.width(text, size, weight) <= width:
            return text
        words = text.split(" ")
        while len(words) > 1 and self.width(" ".join(words) + "…", size, weight) > width:
            words.pop()
        shown = " ".join(words)
        while len(shown) > 1 and self.width(shown + "…", size, weight) > width:
            shown = shown[:-1]
        return shown.rstrip(" ,;:—") + "…"

    # ---- layout ---------------------------------------------------------------------

    def draw(self) -> None:
        self.title()
        inner = self.column - 20
        touchpoint_lines = [self.touchpoint_lines(row, inner) for row in self.report.stages]
        texts = self.voice_texts(inner)
        quote_lines = texts.pop("pain")
        fixed = [
            _Lane("header", 66),
            _Lane("rating", 78),
            _Lane("csat", 66),
            *([_Lane("nps", 66)] if self.has_nps else []),
        ]
        counts = [_Lane("answers", 40), _Lane("response", 40)]
        nothing = voice.names(self.report.locale)["nothing"]
        framed = {
            key: _Lane(
                key, min(LANE_LINES.get(key, TEXT_LANE_LINES), max(map(len, stages))) * LINE + 14
            )
            for key, stages in texts.items()
            if any(line != nothing for lines in stages for line, _ in lines)
        }
        above = [framed[key] for key in ("doing", "thinking") if key in framed]
        below = [framed[key] for key in ("places", "love", "ideas", "choices") if key in framed]
        taken = sum(lane.height for lane in (*fixed, *counts, *above, *below))
        available = self.page_height - TITLE_HEIGHT - FOOTER_HEIGHT - taken
        emotion_min = 150.0
        flexible = available - emotion_min
        needed_touch = max((len(lines) for lines in touchpoint_lines), default=1) * LINE + 14
        needed_quotes = max((len(lines) for lines in quote_lines), default=1) * LINE + 14
        touch = min(needed_touch, max(LINE * 3 + 14, flexible * 0.5))
        quotes = min(max(needed_quotes, LINE * 3 + 14), flexible - touch)
        emotion = min(available - touch - quotes, EMOTION_MAX)
        quotes = available - touch - emotion  # what the curve does not need
        lanes = [
            fixed[0],
            *above,
            _Lane("touchpoints", touch),
            *fixed[1:],
            _Lane("emotion", emotion),
            *counts,
            _Lane("pain", quotes),
            *below,
        ]
        texts["pain"] = quote_lines
        top = TITLE_HEIGHT
        bottom = top + sum(lane.height for lane in lanes)
        for index, row in enumerate(self.report.stages):
            tint, _, _ = COLOURS[row.stage.flag.level]
            self.ax.add_patch(
                Rectangle((self.x(index), top), self.column, bottom - top, color=tint, lw=0)
            )
        y = top
        for lane in lanes:
            self.lane_key = lane.key
            self.lane(lane, y, touchpoint_lines, texts)
            y += lane.height
            right = self.page_width - MARGIN
            self.ax.plot([MARGIN, right], [y, y], color="#d0d0d0", lw=self.scale)
        self.lane_key = "footer"
        for index in range(1, len(self.report.stages)):
            x = self.x(index)
            self.ax.plot([x, x], [top, bottom], color=GRID, lw=3 * self.scale)
        self.footer(bottom)

    def voice_texts(self, width: float) -> dict[str, list[list[tuple[str, str]]]]:
        """lane → per stage, its wrapped lines and their kinds (theme, quote, note)."""
        locale = self.report.locale
        result: dict[str, list[list[tuple[str, str]]]] = {}
        for row in self.report.stages:
            said = voice.voice_of(self.report, row)
            by_lane = {
                "doing": [voice.Line(said.doing, "note")] if said.doing else [],
                "thinking": [voice.Line(said.thinking, "quote")]
                if said.thinking else [],
                "pain": voice.pain_lines(said, row, locale),
                "love": voice.love_lines(said, locale),
                "ideas": voice.idea_lines(said, locale),
                "choices": voice.choice_lines(said.choices, locale),
                "places": self.place_lines(row),
            }  # fmt: skip
            for key, lines in by_lane.items():
                result.setdefault(key, []).append(self.wrap_lines(lines, width))
        return result

    def place_lines(self, row: StageRow) -> list[voice.Line]:
        """The stage's rank and gap (with a bullet), its places, the owner's first idea."""
        lines = place_words.lane_lines(self.report.places, row.stage.id, self.report.locale)
        if not lines:
            return [voice.Line(voice.names(self.report.locale)["nothing"], "note")]
        head, *rest = lines
        return [voice.Line(head, "theme"), *(voice.Line(line, "theme+") for line in rest)]

    def wrap_lines(self, lines: list[voice.Line], width: float) -> list[tuple[str, str]]:
        wrapped: list[tuple[str, str]] = []
        for line in lines:
            bullet = 20 if line.kind.startswith("theme") else 0
            text = _shorten(line.text) if line.kind == "quote" else line.text
            if line.kind.startswith("theme"):  # "20 · 54 %" on one line, no "·" ending one
                text = text.replace(" · ", "\u00a0·\u00a0")
            parts = self.wrap(text, width - bullet)
            wrapped += [(part, line.kind if n == 0 else f"{line.kind}+") for n, part in
                        enumerate(parts)]  # fmt: skip
        return wrapped

    def x(self, index: int) -> float:
        return self.left + index * self.column

    def centre(self, index: int) -> float:
        return self.x(index) + self.column / 2

    def lane(
        self,
        lane: _Lane,
        top: float,
        touchpoint_lines: Sequence[list[tuple[str, Level | None]]],
        texts: dict[str, list[list[tuple[str, str]]]],
    ) -> None:
        labels = self.labels
        said = voice.names(self.report.locale)
        names = {
            "doing": (said["doing"], ""),
            "thinking": (said["thinking"], ""),
            "love": (said["love"], ""),
            "ideas": (said["ideas"], ""),
            "choices": (said["choices"], ""),
            "places": (
                place_words.words(self.report.locale)["title"],
                place_words.lane_hint(self.report.places, self.report.locale),
            ),
            "touchpoints": (labels["touchpoints"], ""),
            "rating": (labels["rating"], ""),
            "csat": (labels["csat"], labels["csat_hint"]),
            "nps": (labels["nps"], labels["nps_hint"]),
            "emotion": (labels["emotion"], labels["emotion_hint"]),
            "answers": (labels["answers"], ""),
            "response": (labels["response_lane"], ""),
            "pain": (labels["pain"], said["pain_hint"]),
        }
        if lane.key in names:
            self.lane_name(lane, top, *names[lane.key])
        if lane.key == "emotion":
            self.emotion(top, lane.height)
            return
        metrics = {"rating": self.rating, "csat": self.csat, "nps": self.nps}
        for index, row in enumerate(self.report.stages):
            x, centre = self.x(index) + 10, self.centre(index)
            if lane.key == "header":
                self.header(index, row, top, lane.height)
            elif lane.key == "touchpoints":
                self.touchpoints(x, top + 8, touchpoint_lines[index], lane.height - 14)
            elif lane.key in metrics:
                self.metric(centre, top, *metrics[lane.key](row.stage))
            elif lane.key == "answers":
                answers = row.stage.figures.answers
                self.text(centre, top + 9, str(answers) if answers else MISSING, 15, ha="center")
            elif lane.key == "response":
                self.text(centre, top + 9, self.stage_response(row), 15, ha="center")
            elif lane.key in texts:
                self.voice_lane(x, top + 8, texts[lane.key][index], lane.height - 14)

    def lane_name(self, lane: _Lane, top: float, name: str, hint: str) -> None:
        # The emotion lane keeps room for its scale at the right of the lane names.
        width = LABEL_WIDTH - (56 if lane.key == "emotion" else 12)
        lines = [(line, True) for line in self.wrap(name, width, 14, "bold")]
        if hint:
            lines += [(line, False) for line in self.wrap(hint, width)]
        room = max(1, int((lane.height - 10) // LINE))
        for number, (line, bold) in enumerate(lines[:room]):
            y = top + 8 + number * LINE
            cut = number == room - 1 and len(lines) > room
            shown = line.rstrip(" ,;:—") + "…" if cut else line  # cut, and says so
            if bold:
                self.text(MARGIN, y, shown, 14, weight="bold")
            else:
                self.text(MARGIN, y, shown, color=MUTED)

    # ---- title and footer -----------------------------------------------------------

    def title(self) -> None:
        report, labels = self.report, self.labels
        last = report.period.end - timedelta(days=1)
        title = f"{report.title} — {days(report.period.start, last)}"
        full = self.page_width - 2 * MARGIN
        self.text(MARGIN, 14, self.fit(title, full, 22, "bold"), 22, weight="bold")
        segment = report.segment or labels["everyone"]
        facts = [
            f"{labels['segment']}: {segment}",
            labels["n"].format(answers=counted_answers(report.answers, report.locale)),
            self.response(),
        ]
        self.text(MARGIN, 52, self.fit(" · ".join(facts), full, 15), 15)
        worst = self.worst()
        colour = COLOURS[worst[1]][2] if worst[1] is not None else MUTED
        self.text(
            MARGIN, 80, self.fit(worst[0], full, 15, "bold"), 15,
            weight="bold", color=colour,
        )  # fmt: skip

    def response(self) -> str:
        rate = self.report.response_rate
        answered = sum(a for a, _ in self.report.response_rates.values())
        sent = sum(s for _, s in self.report.response_rates.values())
        shown = self.labels["response"].format(rate=_percent(rate, self.lang))
        if sent:
            shown += f" ({self.labels['of'].format(answered=answered, sent=sent)})"
        return shown

    def stage_response(self, row: StageRow) -> str:
        """72% (36/50): answered of sent waves that ask about the stage."""
        answered, sent = row.response
        return f"{_percent(row.response_rate, self.lang)} ({answered}/{sent})" if sent else MISSING

    def worst(self) -> tuple[str, Level | None]:
        rows = self.report.stages
        if not rows:
            return self.labels["no_data"], None
        worst = max(
            rows,
            key=lambda row: (
                SEVERITY[row.stage.flag.level],
                len(row.stage.flag.reasons),
                -(row.stage.figures.average_rating or 0),
            ),
        )
        level = worst.stage.flag.level
        if level is Level.NOT_ENOUGH_DATA:
            return self.labels["no_data"], level
        if level is Level.OK:
            return self.labels["all_ok"], level
        return f"{self.labels['worst']}: {worst.stage.name} — {worst.stage.flag.sentence}", level

    def footer(self, top: float) -> None:
        x = MARGIN
        y = top + 12
        for level in (Level.PROBLEM, Level.WATCH, Level.OK, Level.NOT_ENOUGH_DATA):
            fill = COLOURS[level][1]
            self.ax.add_patch(
                Rectangle(
                    (x, y + 1), 26, 18, facecolor=fill, edgecolor="#888888", lw=0.8 * self.scale
                )
            )
            label = self.labels[level.value]
            self.text(x + 34, y, label)
            x += 34 + self.width(label) + 28
        rest = self.page_width - MARGIN - x
        names = {row.stage.id: row.stage.name for row in self.report.stages}
        if self.report.judged and rest > 200:
            line = headline(self.report.priorities, names, self.report.locale)
            self.text(self.page_width - MARGIN, y, self.fit(line, rest), ha="right", color=MUTED)
        when = self.report.generated_at.astimezone(UTC).strftime("%d.%m.%Y %H:%M UTC")
        waves = " · ".join(
            f"{name} {_percent(a / s if s else None, self.lang)}"
            for name, (a, s) in self.wave_rates()
        )
        parts = [f"{self.labels['waves']}: {waves}"] if waves else []
        if self.arrows:
            parts.append(changes_note(self.report.period.days, self.lang))
        parts.append(self.labels["made"].format(when=when))
        line = "   ·   ".join(parts)
        self.text(MARGIN, y + LINE + 6, self.fit(line, self.page_width - 2 * MARGIN), color=MUTED)

    def wave_rates(self) -> list[tuple[str, tuple[int, int]]]:
        """(name, (answered, sent)) per wave, in the survey's order; never the wave's id."""
        rates = self.report.response_rates
        names = self.waves or {
            wave: t(self.lang, "wave_n", n=n) for n, wave in enumerate(sorted(rates), 1)
        }
        known = [(names[wave], rates[wave]) for wave in names if wave in rates]
        others = [wave for wave in sorted(rates) if wave not in names]
        return known + [
            (t(self.lang, "wave_n", n=len(names) + n), rates[wave])
            for n, wave in enumerate(others, 1)
        ]

    def arrow(self, change: float | None, digits: int, unit: str = "") -> str:
        shown = _arrow(change, digits, unit, self.lang)
        self.arrows = self.arrows or bool(shown)
        return shown

    # ---- cells ----------------------------------------------------------------------

    def header(self, index: int, row: StageRow, top: float, height: float) -> None:
        level = row.stage.flag.level
        fill = COLOURS[level][1]
        self.ax.add_patch(
            Rectangle((self.x(index) + 2, top + 2), self.column - 4, height - 4, color=fill, lw=0)
        )
        inner = self.column - 16
        size = 16.0
        while size > SMALL and self.width(row.stage.name, size, "bold") > inner:
            size -= 1
        name = self.fit(row.stage.name, inner, size, "bold")
        self.text(self.centre(index), top + 8 + 16 - size, name, size, weight="bold", ha="center")
        word = self.labels[level.value].upper()
        self.text(self.centre(index), top + 38, self.fit(word, inner), ha="center", color=INK)

    def touchpoint_lines(self, row: StageRow, width: float) -> list[tuple[str, Level | None]]:
        lines: list[tuple[str, Level | None]] = []
        for cell in row.touchpoints:
            wrapped = self.wrap(cell.name, width - 22)
            lines.append((wrapped[0], cell.flag.level))
            lines.extend((more, None) for more in wrapped[1:])
        return lines

    def touchpoints(
        self, x: float, top: float, lines: list[tuple[str, Level | None]], height: float
    ) -> None:
        room = max(1, int(height // LINE))
        shown = lines
        if len(lines) > room:
            # Whole touchpoints only: one whose name is cut by "+n more" counts as hidden.
            cut = room - 1
            while cut > 0 and lines[cut][1] is None:
                cut -= 1
            cut = cut or room - 1  # a first name longer than the lane: its first lines
            hidden = sum(1 for _, level in lines[cut:] if level is not None)
            shown = lines[:cut]
            more = self.labels["more"].format(n=hidden)
            self.text(x + 20, top + cut * LINE, more, color=MUTED)
        colour = MUTED
        for number, (line, level) in enumerate(shown):
            y = top + number * LINE
            if level is not None:
                colour = COLOURS[level][2]
                self.text(x, y - 1, "●", SMALL, color=colour)
            self.text(x + 20, y, line, color=colour)

    def voice_lane(
        self, x: float, top: float, lines: list[tuple[str, str]], height: float
    ) -> None:
        """A voice lane's lines: themes with a bullet, quotes in italics, notes muted."""
        room = max(1, int(height // LINE))
        for number, (line, kind) in enumerate(lines[:room]):
            y = top + number * LINE
            shown = line
            if number == room - 1 and len(lines) > room:
                shown = line.rstrip("”»") + "…"
            if kind == "theme":
                bullet = {"pain": NEGATIVE, "love": POSITIVE, "places": NEGATIVE}.get(
                    self.lane_key, MUTED
                )
                self.text(x, y - 1, "●", SMALL, color=bullet)
            indent = 20 if kind.startswith("theme") else 0
            colour = INK if kind.startswith("theme") else MUTED
            style = "italic" if kind.startswith("quote") else "normal"
            self.text(x + indent, y, shown, color=colour, style=style)

    def metric(self, centre: float, top: float, value: str, size: float, detail: str) -> None:
        self.text(centre, top + 6, value, size, weight="bold", ha="center")
        if detail:
            self.text(centre, top + 6 + size * DPI / 72 + 8, detail, color=MUTED, ha="center")

    def rating(self, cell: Cell) -> tuple[str, float, str]:
        value = cell.figure("rating")
        if value is None:
            return MISSING, 24, ""
        arrow = self.arrow(cell.change.average_rating, 1)
        detail = " ".join(filter(None, [_span(cell, "rating", self.lang), arrow]))
        return f"{decimal(value, 1, self.lang)} ★", 24, detail

    def csat(self, cell: Cell) -> tuple[str, float, str]:
        value = cell.figure("csat")
        if value is None:
            return MISSING, 20, ""
        change = cell.change.csat
        arrow = self.arrow(None if change is None else 100 * change, 0, self.labels["pts"])
        detail = " ".join(filter(None, [_span(cell, "csat", self.lang), arrow]))
        return _percent(value, self.lang), 20, detail

    def nps(self, cell: Cell) -> tuple[str, float, str]:
        value = cell.figure("nps")
        if value is None:
            return MISSING, 20, ""
        if cell.figures.nps_too_few:
            return MISSING, 20, self.labels["too few"]
        arrow = self.arrow(cell.change.nps, 0)
        detail = " ".join(filter(None, [_span(cell, "nps", self.lang), arrow]))
        return _signed(value, 0, self.lang), 20, detail

    def emotion(self, top: float, height: float) -> None:
        """The emotion curve: each stage's mean valence on −2…+2, a gap where a stage has
        none, over the stage columns."""
        pad_top, pad_bottom = 14.0, 12.0
        plot_top, plot_height = top + pad_top, height - pad_top - pad_bottom
        width, height, scale = self.page_width, self.page_height, self.scale
        right = width - MARGIN
        axes = self.figure.add_axes(
            (
                self.left / width,
                1 - (plot_top + plot_height) / height,
                (right - self.left) / width,
                plot_height / height,
            )
        )
        axes.set_facecolor("none")
        axes.set_axis_off()
        count = len(self.report.stages)
        axes.set_xlim(0, max(1, count))
        limit = VALENCE_LIMIT + 0.35
        axes.set_ylim(-limit, limit)
        axes.axhline(0, color="#7a7a7a", lw=1.2 * scale, ls=(0, (4, 3)), zorder=1)
        for level in (-VALENCE_LIMIT, VALENCE_LIMIT):
            axes.axhline(level, color="#bdbdbd", lw=0.8 * scale, ls=":", zorder=1)
        xs = [index + 0.5 for index in range(count)]
        values = [row.stage.figures.mean_valence for row in self.report.stages]
        ys = [math.nan if v is None else v for v in values]
        axes.plot(xs, ys, color="#37474f", lw=3 * scale, zorder=2, solid_capstyle="round")
        # Across a stage without emotions, a thin dashed line: the curve stays one curve.
        known = [(x, v) for x, v in zip(xs, values, strict=True) if v is not None]
        if len(known) > 1:
            axes.plot(
                [x for x, _ in known], [v for _, v in known], color="#37474f", lw=1.5 * scale,
                ls=(0, (2, 3)), zorder=2,
            )  # fmt: skip
        for x, value, row in zip(xs, values, self.report.stages, strict=True):
            if value is None:
                tint = COLOURS[row.stage.flag.level][0]
                axes.text(
                    x, 0, MISSING, ha="center", va="center", fontsize=15 * scale, color=INK,
                    fontfamily=FONT, parse_math=False, zorder=3,
                    bbox={"boxstyle": "square,pad=0.3", "fc": tint, "ec": "none"},
                )  # fmt: skip
                continue
            colour = POSITIVE if value > 0.25 else NEGATIVE if value < 0 else NEUTRAL
            axes.plot(
                [x],
                [value],
                "o",
                ms=14 * scale,
                color=colour,
                mec="white",
                mew=2 * scale,
                zorder=4,
            )
            # Away from the zero line, unless that would leave the lane.
            above = value >= 0 if abs(value) < VALENCE_LIMIT - 0.6 else value < 0
            axes.annotate(
                _signed(value, 1, self.lang), (x, value),
                xytext=(0, (14 if above else -14) * scale),
                textcoords="offset points", ha="center", va="bottom" if above else "top",
                fontsize=15 * scale, fontweight="bold", color=colour, fontfamily=FONT,
                parse_math=False, zorder=5,
            )  # fmt: skip
        # The scale, at the right edge of the lane names.
        span = VALENCE_LIMIT + 0.35
        for level, text in ((VALENCE_LIMIT, "+2"), (0.0, "0"), (-VALENCE_LIMIT, "−2")):
            y = plot_top + plot_height * (span - level) / (2 * span)
            self.text(self.left - 8, y, text, ha="right", va="center", color=MUTED)


def _shorten(text: str, limit: int = QUOTE_CHARS) -> str:
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return (
        textwrap.shorten(flat, width=limit, placeholder="…")
        if " " in flat[:limit]
        else (flat[: limit - 1] + "…")
    )


def _period(period: Period) -> str:
    last = period.end - timedelta(days=1)
    if last == period.start:
        return period.start.isoformat()
    return f"{period.start.isoformat()}…{last.isoformat()}"


# The legend of the ▲▼ changes by the period's days, in CLDR plural categories ("1": one day).


def changes_note(days: int, lang: str) -> str:
    return t(lang, "changes_day") if days == 1 else tn(lang, "changes_days", days)


def _span(cell: Cell, metric: str, lang: str) -> str:
    estimate = cell.estimates.get(metric)
    return "" if estimate is None else span(metric, estimate, locale=lang)


def _percent(value: float | None, lang: str) -> str:
    return MISSING if value is None else percent(value, lang)


def _signed(value: float | None, digits: int, lang: str) -> str:
    if value is None:
        return MISSING
    text = f"{value:+.{digits}f}"
    if float(text) == 0:
        return decimal(0, digits, lang)
    return text.replace("-", "−").replace(".", decimal_sign(lang))


def _arrow(change: float | None, digits: int, unit: str, lang: str) -> str:
    """▲0.3 / ▼18 pts (▲0,3 in Russian); nothing when there is no change to show."""
    if change is None:
        return ""
    shown = decimal(abs(change), digits, lang)
    if not any(c in "123456789" for c in shown):
        return "±" + shown + unit
    return ("▲" if change > 0 else "▼") + shown + unit
