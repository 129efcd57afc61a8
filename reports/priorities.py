"""What to fix first: each stage's importance for the customers' NPS times how far it falls
short, with the uncertainty of both.

*Importance* is the stage's share of the NPS variance that the stage scores explain
together — Johnson's relative weights (2000), which split R² among correlated predictors
the way the Shapley/LMG decomposition does, at the cost of one eigendecomposition. The
data are the journeys with an NPS answer in the period: x = the journey's mean rating of
each stage, y = its NPS; a journey that did not rate a stage is left out of the
correlations with that stage only (pairwise-complete correlations). Journeys are
resampled (bootstrap) for the intervals and for how often each stage comes out first.

*Performance* is the gap between the stage's shrunk mean rating (reports.evidence) and
where it should be: the survey's rating threshold or the journey's mean rating, whichever
is higher. The priority is importance × gap; the "fix first" list is the stages with
a gap whose importance is above an even share (1 / number of stages) with the bootstrap's
confidence. Below MIN_JOURNEYS_PER_STAGE journeys per stage the drivers cannot be told
apart, and the report says so instead of ranking noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reports.aggregate import Period
from reports.days import in_runs
from storage.models import Answer

BOOTSTRAPS = 200
MIN_JOURNEYS_PER_STAGE = 10  # journeys with an NPS per stage compared, before ranking
MAX_JOURNEYS = 5_000  # the most recent journeys with an NPS answer read for the ranking
CONFIDENCE = 0.90  # of the intervals, and the share of resamples "fix first" needs
SEED = 20_261_204  # a fixed seed: the same data give the same report


@dataclass(frozen=True, slots=True)
class JourneyScores:
    stages: tuple[str, ...]
    x: np.ndarray[Any, np.dtype[np.float64]]  # journeys × stages, NaN where not rated
    y: np.ndarray[Any, np.dtype[np.float64]]  # the journeys' NPS answers, 0–10

    @property
    def journeys(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True, slots=True)
class Priority:
    stage: str
    importance: float  # share of the explained NPS variance, 0–1
    low: float  # its interval at CONFIDENCE
    high: float
    first: float  # share of resamples in which the stage is the most important
    gap: float  # stars below where it should be (0 when it is not below)
    fix_first: bool

    @property
    def score(self) -> float:
        return self.importance * self.gap


@dataclass(frozen=True, slots=True)
class Priorities:
    stages: tuple[Priority, ...]  # by priority, then importance
    journeys: int  # journeys with an NPS answer in the period
    needed: int  # journeys needed to tell the drivers apart
    r_squared: float | None = None  # of NPS on the stage scores, all journeys

    @property
    def enough(self) -> bool:
        return self.journeys >= self.needed and bool(self.stages)

    @property
    def fix_first(self) -> tuple[Priority, ...]:
        return tuple(p for p in self.stages if p.fix_first)


NO_PRIORITIES = Priorities((), 0, 0)


async def journey_scores(
    session: AsyncSession, survey_id: str, period: Period, segment: str | None = None
) -> JourneyScores:
    """The stage means and NPS of the journeys whose NPS was answered in the period."""
    days: ColumnElement[bool] = in_runs(Answer.day, [(period.start, period.end)])
    if segment is not None:
        days = and_(days, Answer.segment == segment)
    # The most recent MAX_JOURNEYS NPS answers (newest first on the report index): the
    # ranking is settled long before, and the cost stays bounded however long the period.
    nps = (
        select(Answer.order_id, Answer.nps.label("y"))
        .where(Answer.survey_id == survey_id, Answer.nps.is_not(None), days)
        .order_by(Answer.day.desc())
        .limit(MAX_JOURNEYS)
        .subquery()
    )
    ratings = (
        select(Answer.order_id, Answer.stage, func.avg(Answer.rating).label("x"))
        .where(Answer.order_id.in_(select(nps.c.order_id)), Answer.rating.is_not(None))
        .group_by(Answer.order_id, Answer.stage)
        .subquery()
    )
    rows = (
        await session.execute(
            select(nps.c.order_id, nps.c.y, ratings.c.stage, ratings.c.x).outerjoin(
                ratings, ratings.c.order_id == nps.c.order_id
            )
        )
    ).all()
    journeys: dict[int, dict[str, float]] = {}
    answers: dict[int, float] = {}
    for order_id, y, stage, x in rows:
        answers[order_id] = float(y)
        if stage is not None:
            journeys.setdefault(order_id, {})[str(stage)] = float(x)
    stages = tuple(sorted({s for by_stage in journeys.values() for s in by_stage}))
    orders = sorted(answers)
    matrix = np.full((len(orders), len(stages)), np.nan)
    for i, order_id in enumerate(orders):
        for j, stage in enumerate(stages):
            matrix[i, j] = journeys.get(order_id, {}).get(stage, np.nan)
    return JourneyScores(stages, matrix, np.asarray([answers[o] for o in orders], dtype=float))


def _correlations(
    x: np.ndarray[Any, np.dtype[np.float64]], y: np.ndarray[Any, np.dtype[np.float64]]
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, np.dtype[np.float64]]]:
    """Pairwise-complete correlations among the stages, and of each stage with NPS."""
    data = np.column_stack([x, y])
    present = ~np.isnan(data)
    filled = np.where(present, data, 0.0)
    k = data.shape[1]
    corr = np.eye(k)
    for a in range(k):
        for b in range(a + 1, k):
            both = present[:, a] & present[:, b]
            if both.sum() < 3:
                continue
            u, v = filled[both, a], filled[both, b]
            su, sv = u.std(), v.std()
            if su > 0 and sv > 0:
                corr[a, b] = corr[b, a] = float(np.mean((u - u.mean()) * (v - v.mean())) / su / sv)
    return corr[:-1, :-1], corr[:-1, -1]


def relative_weights(
    x: np.ndarray[Any, np.dtype[np.float64]], y: np.ndarray[Any, np.dtype[np.float64]]
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Johnson's relative weights of the columns of x for y: their sum is R²."""
    rxx, rxy = _correlations(x, y)
    values, vectors = np.linalg.eigh(rxx)
    values = np.clip(values, 1e-9, None)  # pairwise correlations need not be PSD
    half = vectors @ np.diag(np.sqrt(values)) @ vectors.T  # correlations of X with its
    beta = np.linalg.solve(half, rxy)  # orthogonal counterpart Z, and y regressed on Z
    weights: np.ndarray[Any, np.dtype[np.float64]] = (half**2) @ (beta**2)
    return weights


def priorities(
    scores: JourneyScores,
    gaps: Mapping[str, float],
    bootstraps: int = BOOTSTRAPS,
) -> Priorities:
    """Importance with its bootstrap interval, times each stage's gap (stars below where
    it should be; a stage missing from `gaps` has none)."""
    stages = [s for s in scores.stages if s in gaps]
    needed = MIN_JOURNEYS_PER_STAGE * max(len(stages), 1)
    if len(stages) < 2 or scores.journeys < needed:
        return Priorities((), scores.journeys, needed)
    columns = [scores.stages.index(s) for s in stages]
    x, y = scores.x[:, columns], scores.y
    rng = np.random.default_rng(SEED)
    full = relative_weights(x, y)
    r_squared = float(full.sum())
    shares = _shares(full)
    resampled = np.empty((bootstraps, len(stages)))
    for b in range(bootstraps):
        rows = rng.integers(0, y.shape[0], y.shape[0])
        resampled[b] = _shares(relative_weights(x[rows], y[rows]))
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(resampled, [tail, 1 - tail], axis=0)
    first = np.bincount(resampled.argmax(axis=1), minlength=len(stages)) / bootstraps
    even = 1 / len(stages)
    above_even = (resampled > even).mean(axis=0)
    result = [
        Priority(
            stage,
            float(shares[j]),
            float(low[j]),
            float(high[j]),
            float(first[j]),
            max(0.0, gaps[stage]),
            bool(gaps[stage] > 0 and above_even[j] >= CONFIDENCE),
        )
        for j, stage in enumerate(stages)
    ]
    result.sort(key=lambda p: (-p.score, -p.importance))
    return Priorities(tuple(result), scores.journeys, needed, r_squared)


def _shares(
    weights: np.ndarray[Any, np.dtype[np.float64]],
) -> np.ndarray[Any, np.dtype[np.float64]]:
    total = float(weights.sum())
    if total <= 0:
        return np.full(weights.shape, 1 / len(weights))
    shares: np.ndarray[Any, np.dtype[np.float64]] = weights / total
    return shares


def gaps_to_target(ratings: Mapping[str, float], threshold: float) -> dict[str, float]:
    """Stars each stage's (shrunk) mean rating falls short of the higher of the threshold
    and the journey's mean over its stages."""
    if not ratings:
        return {}
    target = max(threshold, float(np.mean(list(ratings.values()))))
    return {stage: target - value for stage, value in ratings.items()}


def ranked(stages: Sequence[Priority]) -> list[str]:
    return [p.stage for p in sorted(stages, key=lambda p: -p.importance)]
