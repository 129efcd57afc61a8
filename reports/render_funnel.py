"""The "where customers drop out" section of the HTML report (templates/funnel.html):
the funnel's numbers formatted, with its words in the report's language. Apart from
render_html so that the section can be moved or restyled on its own."""

from __future__ import annotations

from dataclasses import dataclass

from reports.funnel import Funnel, QuestionStep, Share, WaveFunnel
from reports.texts import table
from reports.words import language
from surveys import formats

QUESTION_CHARS = 80  # a question's text is cut here: the table stays narrow on a phone

# The section's words: the catalog's funnel_<name> messages, by their names here.
TEXTS = (
    "title", "question", "shown", "answered", "stopped", "follow_up", "drop_out", "sent",
    "delivered", "opened", "completed", "expired", "cancelled", "open", "failed", "unknown",
    "worst", "none", "explain",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class StepView:
    text: str
    follow_up: bool
    shown: int
    answered: int
    stopped: int
    share: str  # "33%", or "" when nobody decided yet
    interval: str  # "20–50%"
    drop_out: bool


@dataclass(frozen=True, slots=True)
class WaveView:
    name: str
    facts: tuple[str, ...]  # "33 sent", "30 delivered", …
    steps: tuple[StepView, ...]
    worst: str  # the drop-out sentence, or that there is none


@dataclass(frozen=True, slots=True)
class FunnelView:
    t: dict[str, str]
    waves: tuple[WaveView, ...]
    explain: str


def _percent(value: float, lang: str) -> str:
    return formats.percent(value, lang)


def _share(share: Share, lang: str) -> tuple[str, str]:
    interval = share.interval()
    if share.value is None or interval is None:
        return "", ""
    low, high = interval
    return _percent(share.value, lang), f"{round(100 * low)}–{_percent(high, lang)}"


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUESTION_CHARS else text[: QUESTION_CHARS - 1].rstrip() + "…"


def _step(step: QuestionStep, lang: str) -> StepView:
    share, interval = _share(step.stop_share, lang)
    return StepView(
        _cut(step.text), step.follow_up, step.reached, step.answered, step.stopped,
        share, interval, step.drop_out,
    )  # fmt: skip


def _facts(wave: WaveFunnel, t: dict[str, str], lang: str) -> tuple[str, ...]:
    def of_delivered(n: int) -> str:
        return f" ({_percent(n / wave.delivered, lang)})" if wave.delivered else ""

    facts = [f"{wave.sent} {t['sent']}", f"{wave.delivered} {t['delivered']}"]
    facts += [f"{wave.opened} {t['opened']}{of_delivered(wave.opened)}"]
    facts += [f"{wave.completed} {t['completed']}{of_delivered(wave.completed)}"]
    for name in ("expired", "cancelled", "open", "failed", "unknown"):
        count: int = getattr(wave, name)
        if count:
            facts.append(f"{count} {t[name]}")
    return tuple(facts)


def _worst(wave: WaveFunnel, t: dict[str, str], lang: str) -> str:
    point = wave.drop_out
    if point is None:
        return t["none"]
    share, interval = _share(point.stop_share, lang)
    return t["worst"].format(
        question=_cut(point.text), stopped=point.stopped, of=point.stop_share.of,
        share=f"{share}, {_percent(0.9, lang)}: {interval}",
    )  # fmt: skip


def funnel_view(funnel: Funnel, locale: str) -> FunnelView:
    lang = language(locale)
    t = table(lang, "funnel_", TEXTS)
    waves = tuple(
        WaveView(
            w.name, _facts(w, t, lang), tuple(_step(s, lang) for s in w.questions),
            _worst(w, t, lang),
        )
        for w in funnel.waves
    )  # fmt: skip
    return FunnelView(t, waves, t["explain"].format(minimum=funnel.min_customers))
