"""The PDF report (SPEC §4 "Outputs"), the format CJM tools deliver: an A4-landscape page with
the map, then a page per stage with what the HTML report shows of it — its figures with
their 90 % intervals, the changes, the touchpoints, the pain themes with their counts and
quotes, what customers love and suggest, the top answers and the comments. A stage that
does not fit its page goes on over the next one.

The map page is the PNG map's drawing (reports.render_png) on a wider canvas with the
same lanes, its text scaled to the page. Text stays text (TrueType fonts, `pdf.fonttype`
42): the file can be searched and copied from. DejaVu Sans, matplotlib's own font, has
Cyrillic. Like the PNG, this uses matplotlib's object API only, so it may run in a worker
thread."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import FancyBboxPatch
from matplotlib.textpath import TextToPath

from reports import lanes
from reports.levels import Level
from reports.render_html import LEVEL_CLASS, Delta, StageView, VoiceView, stage_views
from reports.render_png import COLOURS, DPI, FONT, HEIGHT, INK, MUTED, Geometry, MapDrawing, labels
from reports.report import Report, period_name
from reports.words import days, language

PAGE_WIDTH, PAGE_HEIGHT = 842.0, 595.0  # points: A4 landscape
INCH = 72.0
# The map: the PNG's height in its units, widened to the page's proportions.
MAP = Geometry(HEIGHT * PAGE_WIDTH / PAGE_HEIGHT, HEIGHT, PAGE_HEIGHT / (HEIGHT * INCH / DPI))
MARGIN = 32.0
GUTTER = 22.0
COLUMN = (PAGE_WIDTH - 2 * MARGIN - GUTTER) / 2
BODY = 8.5  # pt
LEADING = 1.32
TOP = 78.0  # where the columns start, under the stage's heading
POSITIVE, NEGATIVE = "#2e7d32", "#c62828"
LEVELS = {css: level for level, css in LEVEL_CLASS.items()}


def render_pdf(report: Report, waves: Mapping[str, str] | None = None) -> bytes:
    """The report as PDF bytes: the map page, then the stage pages."""
    last = report.period.end - timedelta(days=1)
    title = f"{report.title} — {days(report.period.start, last)}"
    texts, stages = stage_views(report)
    metadata = {
        "Title": title,
        "Subject": texts["kind"],
        "CreationDate": report.generated_at,
        "ModDate": report.generated_at,
    }
    buffer = io.BytesIO()
    # Global for the save only; it touches nothing the PNG's drawing reads.
    with mpl.rc_context({"pdf.fonttype": 42}), PdfPages(buffer, metadata=metadata) as pdf:
        pdf.savefig(_map_page(report, waves))
        for stage in stages:
            for page in _Stage(report, stage, texts, title).pages():
                pdf.savefig(page)
    return buffer.getvalue()


def _page() -> Figure:
    return Figure(figsize=(PAGE_WIDTH / INCH, PAGE_HEIGHT / INCH), dpi=INCH, facecolor="white")


def _map_page(report: Report, waves: Mapping[str, str] | None) -> Figure:
    figure = _page()
    MapDrawing(report, figure, waves, MAP).draw()
    return figure


@dataclass(frozen=True)
class _Line:
    text: str
    size: float = BODY
    weight: str = "normal"
    style: str = "normal"
    colour: str = INK
    indent: float = 0.0
    bullet: str | None = None  # the colour of a ● before the first line
    before: float = 0.0  # space above, in points
    heading: bool = False  # kept with the lines after it


class _Stage:
    """One stage's pages: its heading, then two columns of text that flow on to the next
    page when they are full."""

    def __init__(self, report: Report, stage: StageView, texts: dict[str, str], title: str):
        self.report, self.stage, self.t, self.title = report, stage, texts, title
        self.v = lanes.names(report.locale)
        self.measure = TextToPath()
        self.widths: dict[tuple[str, float, str], float] = {}

    def pages(self) -> Iterator[Figure]:
        lines = list(self.lines())
        first = True
        while lines or first:
            figure, ax = self.new_page(continued=not first)
            first = False
            for column in range(2):
                lines = self.fill(ax, MARGIN + column * (COLUMN + GUTTER), lines)
            yield figure

    # ---- what the page says ---------------------------------------------------------

    def lines(self) -> Iterator[_Line]:
        s, t = self.stage, self.t
        yield _Line(s.cell.sentence, 10, "bold", colour=self.ink(s.cell.level))
        yield from self.figures()
        if s.touchpoints:
            yield self.heading(labels(language(self.report.locale))["touchpoints"])
            for tp in s.touchpoints:
                yield _Line(f"{tp.name} — {tp.label}", weight="bold", indent=10,
                            bullet=self.ink(tp.level), before=2)  # fmt: skip
                yield _Line(self.numbers(tp.rating, tp.csat, tp.nps, tp.mood, tp.answers),
                            colour=MUTED, indent=10)  # fmt: skip
                if tp.changes:
                    yield _Line(self.changes(tp.changes), colour=MUTED, indent=10)
                yield _Line(tp.sentence, indent=10)
        if s.voice is not None:
            yield from self.pain(s.voice)
            yield from self.voice(s.voice)
        if s.comments:
            yield self.heading(t["said"])
            for c in s.comments:
                yield _Line(c.text, style="italic", bullet=NEGATIVE if c.low else MUTED,
                            indent=10, before=2)  # fmt: skip
                rated = [] if c.rating is None else [t["rated"].format(rating=c.rating)]
                where = [c.date, *([c.touchpoint] if c.touchpoint else []), *rated]
                yield _Line(" · ".join(where), 7.5, colour=MUTED, indent=10)

    def figures(self) -> Iterator[_Line]:
        s, t = self.stage, self.t
        cell = s.cell
        rows = [
            (t["rating"], cell.rating), ("CSAT", cell.csat), ("NPS", cell.nps),
            (t["mood_row"], cell.mood), (t["customers"], str(cell.customers)),
            (t["answers"], str(cell.answers)), (t["response"], s.response),
        ]  # fmt: skip
        yield self.heading(t["flag"] + ": " + cell.label)
        for name, value in rows:
            yield _Line(f"{name}: {value}")
        previous = period_name(self.report.period, self.report.locale)
        if cell.changes:
            yield _Line(f"{t['change_against']} {previous}", colour=MUTED, before=3)
            yield _Line(self.changes(cell.changes))
        else:
            yield _Line(t["no_comparison"].format(previous=previous), colour=MUTED, before=3)

    def pain(self, sv: VoiceView) -> Iterator[_Line]:
        t, v = self.t, self.v
        if sv.doing:
            yield _Line(f"{v['doing']}: {sv.doing}", before=6)
        if sv.thinking:
            yield _Line(f"{v['thinking']}: {sv.thinking}", style="italic")
        unhappy = f" · {sv.unhappy_text}" if sv.unhappy else ""
        yield self.heading(v["pain"] + unhappy)
        for theme in sv.pain:
            figures = [f"{v['customers']}: {theme.customers}", f"{v['share']}: {theme.share}"]
            if theme.change is not None:
                d = theme.change
                figures.append(f"{d.arrow} {d.amount} ({t['was']} {d.before})")
            yield _Line(theme.label, weight="bold", bullet=NEGATIVE, indent=10, before=2)
            yield _Line(" · ".join(figures), colour=MUTED, indent=10)
            if theme.where:
                yield _Line(f"{v['where']}: {theme.where}", colour=MUTED, indent=10)
            for q in theme.quotes:
                yield _Line(q, style="italic", indent=10)
        for q in sv.pain_quotes:
            yield _Line(q, style="italic", bullet=NEGATIVE, indent=10, before=2)
        if not sv.pain and not sv.pain_quotes:
            yield _Line(v["no_pain"], colour=MUTED)
        if sv.uncovered:
            yield _Line(f"{v['uncovered']}: {sv.uncovered}", colour=MUTED, before=3)

    def voice(self, sv: VoiceView) -> Iterator[_Line]:
        """What customers love, suggest and choose."""
        v = self.v
        if sv.love or sv.love_quotes:
            yield self.heading(v["love"])
            if sv.love:
                yield _Line(" · ".join(sv.love), bullet=POSITIVE, indent=10)
            for q in sv.love_quotes:
                yield _Line(q, style="italic", indent=10)
        if sv.ideas:
            yield self.heading(v["ideas"])
            for q in sv.ideas:
                yield _Line(q, style="italic", bullet=MUTED, indent=10)
        if sv.choices:
            yield self.heading(v["choices"])
            for question, answers in sv.choices:
                yield _Line(question, weight="bold")
                for answer in answers:
                    yield _Line(answer, bullet=MUTED, indent=10)

    def heading(self, text: str) -> _Line:
        return _Line(text, 10.5, "bold", before=9, heading=True)

    def numbers(self, rating: str, csat: str, nps: str, mood: str, answers: int) -> str:
        t = self.t
        return (
            f"{t['answers']}: {answers} · {t['short_rating']}: {rating} · CSAT: {csat} · "
            f"NPS: {nps} · {t['mood_row']}: {mood}"
        )

    def changes(self, changes: tuple[tuple[str, Delta], ...]) -> str:
        was = self.t["was"]
        return " · ".join(f"{m} {d.arrow} {d.amount} ({was} {d.before})" for m, d in changes)

    @staticmethod
    def ink(level: str) -> str:
        return COLOURS[LEVELS.get(level, Level.NOT_ENOUGH_DATA)][2]

    # ---- laying it out --------------------------------------------------------------

    def new_page(self, continued: bool) -> tuple[Figure, Axes]:
        figure = _page()
        ax = figure.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, PAGE_WIDTH)
        ax.set_ylim(PAGE_HEIGHT, 0)
        ax.set_axis_off()
        cell = self.stage.cell
        level = LEVELS.get(cell.level, Level.NOT_ENOUGH_DATA)
        tint, fill, ink = COLOURS[level]
        ax.add_patch(FancyBboxPatch((MARGIN, 22), PAGE_WIDTH - 2 * MARGIN, 40,
                                    boxstyle="round,pad=0,rounding_size=4", fc=tint, ec=fill,
                                    lw=1))  # fmt: skip
        name = cell.name + (" …" if continued else "")
        label = cell.label.upper()
        label_width = self.width(label, 10, "bold")
        room = PAGE_WIDTH - 2 * MARGIN - label_width - 40
        self.write(ax, MARGIN + 12, 29, self.fit(name, room, 17, "bold"), 17, "bold", INK)
        self.write(ax, PAGE_WIDTH - MARGIN - 12, 34, label, 10, "bold", ink, ha="right")
        footer = self.fit(self.title, PAGE_WIDTH - 2 * MARGIN, 7.5, "normal")
        self.write(ax, MARGIN, PAGE_HEIGHT - 22, footer, 7.5, "normal", MUTED)
        return figure, ax

    def fill(self, ax: Axes, x: float, lines: list[_Line]) -> list[_Line]:
        """Writes lines into the column at `x` while they fit; returns the rest."""
        y = TOP
        bottom = PAGE_HEIGHT - 36
        for number, line in enumerate(lines):
            wrapped = self.wrap(line.text, COLUMN - line.indent, line.size, line.weight)
            step = line.size * LEADING
            needed = line.before + step * len(wrapped)
            if line.heading:  # never the last line of a column
                needed += BODY * LEADING * 2
            if y + needed > bottom and y > TOP:
                return lines[number:]
            y += line.before if y > TOP else 0
            if line.bullet is not None:
                self.write(ax, x, y, "●", line.size * 0.8, "normal", line.bullet)
            for part in wrapped:
                self.write(ax, x + line.indent, y, part, line.size, line.weight, line.colour,
                           style=line.style)  # fmt: skip
                y += step
        return []

    def write(
        self, ax: Axes, x: float, y: float, text: str, size: float, weight: str, colour: str,
        *, style: str = "normal", ha: str = "left",
    ) -> None:  # fmt: skip
        ax.text(
            x, y, text, fontsize=size, fontfamily=FONT, fontweight=weight, color=colour,
            fontstyle=style, ha=ha, va="top", parse_math=False,
        )  # fmt: skip

    def width(self, text: str, size: float, weight: str = "normal") -> float:
        key = (text, size, weight)
        if key not in self.widths:  # the wrap measures the same beginnings again and again
            prop = FontProperties(family=FONT, size=size, weight=weight)
            width, _, _ = self.measure.get_text_width_height_descent(text, prop, ismath=False)
            self.widths[key] = float(width)
        return self.widths[key]

    def wrap(self, text: str, width: float, size: float, weight: str) -> list[str]:
        """Greedy word wrap to `width` points; a word longer than a line is cut."""
        lines: list[str] = []
        for paragraph in text.splitlines() or [""]:
            current = ""
            for word in paragraph.split():
                candidate = f"{current} {word}" if current else word
                if self.width(candidate, size, weight) <= width:
                    current = candidate
                    continue
                if current:
                    lines.append(current)
                rest = word
                while self.width(rest, size, weight) > width and len(rest) > 1:
                    cut = max(1, int(len(rest) * width / self.width(rest, size, weight)))
                    while cut > 1 and self.width(rest[:cut], size, weight) > width:
                        cut -= 1
                    lines.append(rest[:cut])
                    rest = rest[cut:]
                current = rest
            lines.append(current)
        return lines

    def fit(self, text: str, width: float, size: float, weight: str) -> str:
        if self.width(text, size, weight) <= width:
            return text
        while len(text) > 1 and self.width(text + "…", size, weight) > width:
            text = text[:-1]
        return text.rstrip() + "…"
