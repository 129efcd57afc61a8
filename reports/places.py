"""Places to improve (SPEC §4 "What to do"): per stage, the concrete places to work on —
its flagged touchpoints with their leading pain themes — with the customers' suggestions
and the owner's own ideas beside them, the stages ranked by the expected gain.

*Which stages.* A stage is a place to improve when it falls short of its target — a gap of
at least MIN_GAP stars between its shrunk mean rating and the higher of the rating
threshold and the journey's mean (reports.priorities) — or when the stage or one of its
touchpoints is flagged problem or watch (reports.evidence). A stage with neither is not
a place to improve, whatever its comments say.

*Which places of a stage.* Each touchpoint flagged problem or watch, with the pain themes
said about it; then the stage as a whole, with the stage's pain themes no such touchpoint
carries — or with all of them when no touchpoint is flagged. Problem touchpoints come
before watch ones, then the one whose themes count more customers. Themes are only ever
complaints (reports.themes): an answer to "what do you like most" cannot land here.

*Ranking the stages.* When the priorities can tell the stages apart (enough journeys with
an NPS answer, reports.priorities), by the *expected gain* = importance × gap: the stage's
share of what moves NPS times the stars it falls short. Its interval is the importance's
90 % bootstrap interval times the gap; the gap is taken at its (shrunk) point estimate, its
own uncertainty is not carried into the interval. Stages without a gain (no gap, or no
journey with an NPS answer rated them) follow. When the drivers cannot be told apart yet,
the stages are ranked by the gap alone (to the tenth of a star it is shown with), and
every output says so. Either way, ties go to the stronger evidence: a problem before a
watch, then more unhappy customers.

The suggestions (customers') and ideas (the owner's, `ideas:` of the survey's stage) are
shown beside the evidence; they never move the ranking.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reports.levels import Level
from reports.themes import StageVoice, ThemeFigure, Voices

if TYPE_CHECKING:
    from reports.priorities import Priorities
    from reports.report import Cell, StageRow

MIN_GAP = 0.05  # stars: below it a stage is on target (priority_words says so too)
THEMES = 3  # pain themes shown per place
SUGGESTIONS = 2  # customers' suggestions shown per stage
FLAGGED = (Level.PROBLEM, Level.WATCH)
_STRENGTH = {Level.PROBLEM: 0, Level.WATCH: 1, Level.OK: 2, Level.NOT_ENOUGH_DATA: 3}


@dataclass(frozen=True, slots=True)
class Place:
    """A flagged touchpoint, or the stage as a whole (touchpoint None)."""

    touchpoint: str | None
    name: str  # the touchpoint's, or the stage's
    level: Level  # of its cell
    reason: str  # the cell's flag sentence; empty when it is not flagged
    themes: tuple[ThemeFigure, ...]  # its leading pain themes, most customers first

    @property
    def customers(self) -> int:
        """Customers naming its leading theme: the count the place is read by."""
        return self.themes[0].customers if self.themes else 0


@dataclass(frozen=True, slots=True)
class StagePlaces:
    stage: str
    name: str
    gap: float  # stars below the target; 0 when on or above it
    level: Level  # the strongest flag of the stage and its touchpoints
    unhappy: int  # customers who answered the stage low or complained about it
    places: tuple[Place, ...]
    suggestions: tuple[str, ...]  # the customers' own, quoted
    ideas: tuple[str, ...]  # the owner's, from the survey file
    # The stage's share of what moves NPS with its 90 % interval: None when the priorities
    # cannot tell the stages apart, or no journey with an NPS answer rated the stage.
    importance: tuple[float, float, float] | None = None

    @property
    def gain(self) -> float | None:
        """Expected gain: importance × gap."""
        return None if self.importance is None else self.importance[0] * self.gap

    @property
    def gain_interval(self) -> tuple[float, float] | None:
        """The importance's interval times the gap (the gap's own uncertainty left out)."""
        if self.importance is None:
            return None
        return self.importance[1] * self.gap, self.importance[2] * self.gap


@dataclass(frozen=True, slots=True)
class Places:
    stages: tuple[StagePlaces, ...] = ()  # the stages to improve, best expected gain first
    by_gain: bool = False  # ranked by importance × gap; else by the gap alone
    journeys: int = 0  # journeys with an NPS answer in the period
    needed: int = 0  # journeys needed to rank by gain

    def top(self, n: int) -> list[tuple[StagePlaces, Place]]:
        """The first n places over all stages, in rank order."""
        return [(stage, place) for stage in self.stages for place in stage.places][:n]

    def ranks(self) -> dict[tuple[str, str | None], int]:
        """(stage, touchpoint or None for the stage as a whole) → the place's rank over all
        stages, 1 first: the summary's numbering."""
        ranked = [
            (stage.stage, place.touchpoint) for stage in self.stages for place in stage.places
        ]
        return {where: rank for rank, where in enumerate(ranked, 1)}

    def of(self, stage: str) -> StagePlaces | None:
        return next((s for s in self.stages if s.stage == stage), None)

    def rank(self, stage: str) -> int | None:
        """1 for the first stage to improve; None for a stage that is not one."""
        return next((i for i, s in enumerate(self.stages, 1) if s.stage == stage), None)


NO_PLACES = Places()


def build_places(
    rows: Sequence[StageRow],
    priorities: Priorities,
    gaps: Mapping[str, float],
    voices: Voices,
    ideas: Mapping[str, Sequence[str]],
) -> Places:
    """The ranked places to improve of a report's stage rows; `gaps` are the stars each
    stage falls short (reports.priorities.gaps_to_target), `ideas` the owner's per stage."""
    by_gain = priorities.enough
    important = {p.stage: (p.importance, p.low, p.high) for p in priorities.stages}
    stages = []
    for row in rows:
        voice = voices.of(row.stage.id)
        gap = max(0.0, gaps.get(row.stage.id, 0.0))
        places = _places(row, voice)
        if gap < MIN_GAP and not any(p.level in FLAGGED for p in places):
            continue
        level = min((row.stage.flag.level, *(tp.flag.level for tp in row.touchpoints)),
                    key=_STRENGTH.__getitem__)  # fmt: skip
        stages.append(
            StagePlaces(
                row.stage.id, row.stage.name, gap if gap >= MIN_GAP else 0.0, level,
                voice.unhappy, places, voice.suggestion_quotes[:SUGGESTIONS],
                tuple(ideas.get(row.stage.id, ())),
                important.get(row.stage.id) if by_gain else None,
            )
        )  # fmt: skip
    stages.sort(key=_by_gain if by_gain else _by_gap)
    return Places(tuple(stages), by_gain, priorities.journeys, priorities.needed)


def _evidence(stage: StagePlaces) -> tuple[int, int]:
    return _STRENGTH[stage.level], -stage.unhappy


def _by_gain(stage: StagePlaces) -> tuple[float, int, int]:
    return (-(stage.gain or 0.0), *_evidence(stage))


def _by_gap(stage: StagePlaces) -> tuple[float, int, int]:
    return (-round(stage.gap, 1), *_evidence(stage))


def _places(row: StageRow, voice: StageVoice) -> tuple[Place, ...]:
    flagged = [tp for tp in row.touchpoints if tp.flag.level in FLAGGED]
    places = [_place(tp, voice.touchpoints.get(tp.id, ())) for tp in flagged]
    places.sort(key=lambda p: (_STRENGTH[p.level], -sum(t.customers for t in p.themes)))
    shown = {t.id for place in places for t in place.themes}
    rest = tuple(t for t in voice.pain if t.id not in shown)
    if not places or rest:
        places.append(_place(row.stage, rest, stage=True))
    return tuple(places)


def _place(cell: Cell, themes: Sequence[ThemeFigure], stage: bool = False) -> Place:
    level = cell.flag.level
    reason = cell.flag.sentence if level in FLAGGED else ""
    return Place(None if stage else cell.id, cell.name, level, reason, tuple(themes[:THEMES]))
