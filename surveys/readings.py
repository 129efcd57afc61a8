"""What a comment says once read (surveys.themes reads it): its themes, its tone, and how
its question and the answers around it decide whether it is pain, praise or a
suggestion. Apart from the reader, so that whoever only handles stored readings (the
rollup job in the bot's process) never loads the morphology.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from surveys.model import Intent, Theme


@dataclass(frozen=True, slots=True)
class Found:
    themes: tuple[str, ...]  # best matched first
    # Themes named only to say they were not there: "no queue at all" (praise of them).
    denied: tuple[str, ...] = ()

    def of(self, intent: Intent | None) -> tuple[str, ...]:
        """The comment's themes once its intent is known: praise counts the denied ones."""
        return self.themes + self.denied if intent is Intent.PRAISE else self.themes


@dataclass(frozen=True, slots=True)
class Reading:
    intent: Intent | None
    pain: bool  # shown among the stage's pain points


@dataclass(frozen=True, slots=True)
class TextReading:
    """What a comment's words alone say, before its question and the answers around it
    are known: stored once per comment (reports read these, not the texts again)."""

    themes: tuple[str, ...]  # best matched first
    denied: tuple[str, ...]
    said: Intent | None  # text_intent
    nothing: bool  # "нет", "-": says nothing
    # The content words in order, as (stem, surface form): the report's recurring terms.
    terms: tuple[tuple[str, str], ...]

    @property
    def found(self) -> Found:
        return Found(self.themes, self.denied)


def decide(reading: TextReading, asked: Intent | None, low: bool) -> Reading:
    """A comment's intent from its question's intent, the answers before it and its words.

    An answer to a praise question is praise, whatever the ratings: it never lands among
    the pain points. A comment is pain when its question asks for complaints, when it
    follows a low answer, or when its words complain."""
    if reading.nothing:
        return Reading(None, pain=False)
    said = reading.said
    if asked is Intent.PRAISE:
        return Reading(Intent.PRAISE, pain=False)
    if asked is Intent.SUGGESTION:
        return Reading(Intent.SUGGESTION, pain=low)
    if asked is Intent.PAIN:
        suggestion = said is Intent.SUGGESTION
        return Reading(Intent.SUGGESTION if suggestion else Intent.PAIN, pain=True)
    if said is None and low:
        said = Intent.PAIN
    return Reading(said, pain=said is Intent.PAIN or (low and said is Intent.SUGGESTION))


# Bumped whenever the matching above changes what a stored reading would hold.
READER_VERSION = 1


def fingerprint(themes: Iterable[Theme]) -> str:
    """Names the themes and the reader a stored reading was made with: a reading with
    another fingerprint is stale and read again."""
    described = [(t.id, sorted((k, sorted(v)) for k, v in t.words.items())) for t in themes]
    payload = json.dumps([READER_VERSION, described], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
