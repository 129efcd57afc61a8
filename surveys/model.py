"""The survey file (SPEC §6) as pydantic models.

Structure is checked by pydantic; cross-references (a question's stage, an `ask_if` that
names an earlier question, translations for every locale) by `surveys.checks`, so that
every problem can be reported with its location in one pass.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from functools import cached_property
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from surveys.conditions import Condition, parse_condition

_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
IDENT = r"^[a-z][a-z0-9_]*$"


def parse_duration(value: object) -> timedelta:
    """`90m`, `2h`, `1d12h`, `3w`; a bare number is seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return timedelta(seconds=value)
    text = str(value).strip().lower()
    parts = _DURATION.findall(text)
    if not parts or _DURATION.sub("", text).strip():
        raise ValueError(
            f"not a duration: {value!r} (use s, m, h, d, w units, e.g. '2h' or '1d12h')"
        )
    return sum((timedelta(**{_UNITS[u]: int(n)}) for n, u in parts), timedelta())


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Ident = Annotated[str, Field(pattern=IDENT, max_length=32)]
Localized = Annotated[dict[str, Annotated[str, Field(min_length=1)]], Field(min_length=1)]
# Limits that keep every message within Telegram's: a question (with its intro and hint)
# stays far below 4,096 characters, and a button label stays readable on a phone.
QuestionText = Annotated[
    dict[str, Annotated[str, Field(min_length=1, max_length=1000)]], Field(min_length=1)
]
Label = Annotated[
    dict[str, Annotated[str, Field(min_length=1, max_length=64)]], Field(min_length=1)
]


def localize(text: dict[str, str], locale: str, fallback: str) -> str:
    return text.get(locale) or text.get(fallback) or next(iter(text.values()))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuestionKind(StrEnum):
    RATING = "rating"
    NPS = "nps"
    EMOTION = "emotion"
    CHOICE = "choice"
    TEXT = "text"


class Thresholds(_Strict):
    rating: float = Field(3.5, ge=1, le=5)
    csat: float = Field(0.70, ge=0, le=1)
    nps: float = Field(0, ge=-100, le=100)
    valence: float = Field(0, ge=-2, le=2)
    min_responses: int = Field(5, ge=1)  # customers, not answers
    # How the map decides (README "How the map decides"): the smallest differences that
    # matter and the false discovery rate over a report's tests.
    relative_rating: float = Field(0.15, ge=0, le=2)  # stars below the customers' other ratings
    drop_rating: float = Field(0.1, ge=0, le=2)  # stars below the baseline
    drop_csat: float = Field(0.03, ge=0, le=1)  # share below the baseline
    drop_nps: float = Field(5, ge=0, le=100)  # NPS points below the baseline
    drop_valence: float = Field(0.15, ge=0, le=2)  # mood below the baseline
    baseline_periods: int = Field(4, ge=1, le=12)  # periods of the same length before
    # False discovery rate over the report's tests. For a healthy shop every hypothesis is
    # null, and Benjamini–Hochberg then bounds the chance of any false flag by q itself;
    # 0.03 keeps a shop's healthy weeks under 5 % with room for the estimated variances and
    # week-to-week spread (at 0.05 a shop with good and bad weeks got 8 %; bench/README.md).
    fdr: float = Field(0.03, gt=0, le=0.5)
    # A relative or drop finding is "watch" when it would be a discovery at this looser rate.
    watch_fdr: float = Field(0.25, gt=0, le=0.5)

    @model_validator(mode="after")
    def _watch_looser(self) -> Thresholds:
        if self.watch_fdr < self.fdr:
            raise ValueError(f"watch_fdr ({self.watch_fdr}) must be at least fdr ({self.fdr})")
        return self


class Alert(_Strict):
    rating_at_most: int = Field(2, ge=1, le=5)
    nps_at_most: int = Field(6, ge=0, le=10)
    # A strongly negative emotion (disappointment, irritation) is a complaint even when
    # the stars were kind; `null` turns it off.
    valence_at_most: int | None = Field(-2, ge=-2, le=2)


class Emotion(_Strict):
    id: Ident
    emoji: str = Field(min_length=1, max_length=16)
    valence: int = Field(ge=-2, le=2)
    label: Label


class Touchpoint(_Strict):
    id: Ident
    name: Localized


class Stage(_Strict):
    id: Ident
    name: Localized
    description: Localized | None = None
    # The map's actions and thoughts lanes: what the customer does here, and what goes
    # through their mind ("Is there a seat?").
    doing: Localized | None = None
    thinking: Localized | None = None
    # The owner's own ideas for the stage, shown on the map's "places to improve" beside
    # what customers say (reports.places).
    ideas: list[Localized] = Field(default_factory=list)
    touchpoints: list[Touchpoint] = Field(default_factory=list)


class Option(_Strict):
    id: Ident
    label: Label
    # The touchpoint of the question's stage this choice is about ("where did you hear of
    # us": social, friends…): the answer lands on it rather than on the question's.
    touchpoint: Ident | None = None


class Intent(StrEnum):
    """What the text answers of a question are: complaints, praise or ideas."""

    PAIN = "pain"
    PRAISE = "praise"
    SUGGESTION = "suggestion"


class Question(_Strict):
    id: Ident
    stage: Ident
    touchpoint: Ident | None = None
    kind: QuestionKind
    text: QuestionText
    ask_if: str | None = None
    options: list[Option] = Field(default_factory=list)
    optional: bool = Field(True, description="text questions offer a Skip button")
    intent: Intent | None = None  # text questions; inferred from ask_if when missing

    @cached_property
    def condition(self) -> Condition | None:
        return parse_condition(self.ask_if) if self.ask_if else None

    @cached_property
    def comment_intent(self) -> Intent | None:
        """The intent of its text answers: the one written, else the one its condition
        implies (asked after a low answer → pain, after a high one → praise), else None
        (an open question: each comment's own words decide)."""
        if self.intent is not None:
            return self.intent
        condition = self.condition
        if condition is None or not condition.comparisons:
            return None
        ops = {c.op for c in condition.comparisons if isinstance(c.value, int)}
        if ops and ops <= {"<", "<="}:
            return Intent.PAIN
        if ops and ops <= {">", ">="}:
            return Intent.PRAISE
        return None

    def touchpoint_of(self, choice: str | None) -> str | None:
        """Where an answer lands on the map: the chosen option's touchpoint when it names
        one, else the question's."""
        option = next((o for o in self.options if o.id == choice), None)
        if option is not None and option.touchpoint is not None:
            return option.touchpoint
        return self.touchpoint


ThemeWords = Annotated[
    dict[
        str,
        Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(min_length=1)],
    ],
    Field(min_length=1),
]


class Theme(_Strict):
    """A subject customers write about ("the queue"), found in comments by its words and
    phrases per language, matched by lemma and stem (`surveys.themes`)."""

    id: Ident
    label: Label
    words: ThemeWords


class Wave(_Strict):
    id: Ident
    title: Localized | None = None  # how reports name the wave; "Wave 2" without it
    after: Duration
    remind_after: Duration | None = None
    expire_after: Duration = Field(default_factory=lambda: timedelta(days=3))
    intro: QuestionText | None = None
    questions: list[Question] = Field(min_length=1)


class Survey(_Strict):
    id: Ident
    title: Localized
    business: Localized | None = None  # the name customers know; defaults to the title
    default_locale: str = Field("en", pattern=r"^[a-z]{2}$")
    cooldown: Duration = Field(default_factory=lambda: timedelta(days=14))
    thresholds: Thresholds = Field(default_factory=Thresholds)
    alert: Alert = Field(default_factory=Alert)
    emotions: list[Emotion] = Field(default_factory=list)
    stages: list[Stage] = Field(min_length=1)
    waves: list[Wave] = Field(min_length=1)
    themes: list[Theme] = Field(default_factory=list)

    @property
    def locales(self) -> list[str]:
        return list(self.title)

    def wave(self, wave_id: str) -> Wave | None:
        return next((w for w in self.waves if w.id == wave_id), None)

    def stage(self, stage_id: str) -> Stage | None:
        return next((s for s in self.stages if s.id == stage_id), None)

    def emotion(self, index: int) -> Emotion | None:
        return self.emotions[index] if 0 <= index < len(self.emotions) else None

    def text(self, text: dict[str, str], locale: str) -> str:
        return localize(text, locale, self.default_locale)
