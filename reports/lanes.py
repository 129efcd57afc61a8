"""The words of the map's voice lanes, one source for the PNG and the HTML: what the
customer does and thinks at a stage, their pain points (themes with counts, then quotes),
what they love, what they suggest, and the top answers of the stage's choice questions.

A stage's pain lane shows only complaints (reports.themes): the answer to "what do you like
most" can never land there. A report made without voices (`NO_VOICES`) falls back to the
stage's low-rated comments, never to the others.
"""

from __future__ import annotations

from dataclasses import dataclass

from reports.report import Report, StageRow
from reports.texts import t, table, tn
from reports.themes import NO_VOICE, ChoiceQuestion, StageVoice, ThemeFigure
from surveys import formats

# The catalog's lane_<name> messages, for the templates (templates/report.html).
NAMES = (
    "doing", "thinking", "pain", "pain_hint", "love", "ideas", "choices", "no_pain", "nothing",
    "also", "theme", "customers", "share", "where", "quotes", "uncovered", "uncovered_hint",
    "baseline",
)  # fmt: skip
THEMES_SHOWN = 3


def unhappy(n: int, locale: str) -> str:
    """ "1 unhappy customer", "3 unhappy customers", "недовольных: 3"."""
    return tn(locale, "unhappy", n)


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    kind: str  # theme, quote, note: how a renderer styles it


def names(locale: str) -> dict[str, str]:
    return table(locale, "lane_", NAMES)


def percent(share: float | None, locale: str = "en") -> str:
    """50% in English, 50 % in Russian (Babel's CLDR pattern); a dash for none."""
    return "—" if share is None else formats.percent(share, locale)


def theme_line(figure: ThemeFigure, with_share: bool = True, locale: str = "en") -> str:
    """ "Queue and waiting 3 · 50%": the theme, its customers and their share."""
    shown = f"{figure.label} {figure.customers}"
    if with_share and figure.share:
        return f"{shown} · {percent(figure.share, locale)}"
    return shown


def quote(text: str, locale: str = "en") -> str:
    return t(locale, "quote", text=text)


def pain_lines(voice: StageVoice, row: StageRow, locale: str) -> list[Line]:
    """The leading pain themes, then a quote of the first one (or of a complaint no theme
    covers), then the recurring words no theme covers."""
    lines = [Line(theme_line(f, locale=locale), "theme") for f in voice.pain[:THEMES_SHOWN]]
    quotes = [*(voice.pain[0].quotes[:1] if voice.pain else ()), *voice.pain_quotes[:1]]
    if voice is NO_VOICE:  # a report made without voices: its low-rated comments only
        quotes = [c.text for c in row.comments if c.low][:2]
    lines += [Line(quote(q, locale), "quote") for q in quotes[:2]]
    if voice.uncovered:
        terms = ", ".join(f"{t.text} ({t.customers})" for t in voice.uncovered[:3])
        lines.append(Line(t(locale, "lane_also", terms=terms), "note"))
    return lines or [Line(t(locale, "lane_no_pain"), "note")]


def love_lines(voice: StageVoice, locale: str) -> list[Line]:
    lines = [Line(theme_line(f, with_share=False), "theme") for f in voice.praise[:2]]
    lines += [Line(quote(q, locale), "quote") for q in voice.praise_quotes[:1]]
    return lines or [Line(t(locale, "lane_nothing"), "note")]


def idea_lines(voice: StageVoice, locale: str) -> list[Line]:
    lines = [Line(quote(q, locale), "quote") for q in voice.suggestion_quotes[:2]]
    return lines or [Line(t(locale, "lane_nothing"), "note")]


def choice_lines(choices: tuple[ChoiceQuestion, ...], locale: str) -> list[Line]:
    lines = []
    for question in choices[:2]:
        top = question.top[:2]
        lines += [Line(f"{c.label} {percent(c.share, locale)}", "theme") for c in top]
    return lines or [Line(t(locale, "lane_nothing"), "note")]


def voice_of(report: Report, row: StageRow) -> StageVoice:
    return report.voices.of(row.stage.id)


def has_voices(report: Report) -> bool:
    """Whether the report carries any voice lane: the survey's doing/thinking or a comment."""
    return any(v.doing or v.thinking or v.said or v.choices for v in report.voices.stages.values())
