"""What to fix first: each stage's importance for the customers' NPS times how far it falls
short, with the uncertainty of both.

*Importance* is the stage's share of the NPS variance that the stage scores explain
together — Johnson's relative weights (2000), which split R² among correlated predictors
the way the Shapley/LMG decomposition does, at the cost of one eigendecomposition. What
moves NPS is a property of the business that changes slowly, and one week of NPS answers
cannot tell drivers apart (a stage twice as important is ranked first about two times in
three with 50 journeys, nine in ten with 200): the data are the journeys with an NPS
answer in the period *and its baseline* — the `baseline_periods` periods of the same
length before it, the window the drop rule compares with — and at least the last
MIN_IMPORTANCE_DAYS (nine weeks) where that is shorter: x = the journey's mean rating of
each stage, y = its NPS; a journey that did not rate a stage is left out of the
correlations with that stage only (pairwise-complete correlations). Journeys are
resampled (bootstrap) for the intervals and for how often each stage comes out first.

A stage asked with one question is measured with more noise than one asked with five,
and noise hides a driver: uncorrected, a single-question stage that truly drives NPS lost
to a five-question stage half the time even with 850 journeys (bench/README.md, quality).
So the correlations are corrected for attenuation (Spearman 1904) before the weights: a
stage score's reliability is 1 − σ²·mean(1/k) / var(score), where k is the journey's number
of ratings of the stage and σ² the variance of one rating around the journey's own level
for that stage — pooled over every journey that rated a stage more than once, after each
question's own mean is taken out (so easy and hard questions do not count as noise).
Reliabilities are kept within [MIN_RELIABILITY, 1]; without a stage rated twice by one
journey nothing is corrected. The corrected correlations of the stages and NPS are made a
correlation matrix again (eigenvalues clipped, unit diagonal): pairwise-complete
correlations over different journeys, once divided, need not describe any possible data.

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
from datetime import timedelta
from functools import lru_cache
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from reports.aggregate import Period
from reports.days import in_ids, in_runs
from reports.relative_weights import weights_and_resampled
from storage.models import Answer

BOOTSTRAPS = 200
MIN_JOURNEYS_PER_STAGE = 10  # journeys with an NPS per stage compared, before ranking
MAX_JOURNEYS = 5_000  # the most recent journeys with an NPS answer read for the ranking
# What moves NPS is learnt from at least the last nine weeks of answers: a weekly report's
# five weeks (the period and its baseline) give a shop of 100 customers a week ~300
# journeys with an NPS answer, which rank the planted driver first 83 % of the time in
# bench.quality; nine weeks' ~530 rank it first 96 % (bench/README.md, quality). A younger
# shop simply has fewer; MAX_JOURNEYS bounds the read of a big one.
MIN_IMPORTANCE_DAYS = 63
CONFIDENCE = 0.90  # of the intervals, and the share of resamples "fix first" needs
MIN_RELIABILITY = 0.3  # a stage score is never taken for mostly noise
SEED = 20_261_204  # a fixed seed: the same data give the same report


Matrix = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True, slots=True)
class JourneyScores:
    stages: tuple[str, ...]
    x: Matrix  # journeys × stages, NaN where not rated
    y: Matrix  # the journeys' NPS answers, 0–10
    items: Matrix | None = None  # journeys × stages: ratings behind each score (0: none)
    error_variance: float | None = None  # of one rating around the journey's stage level

    @property
    def journeys(self) -> int:
        return int(self.y.shape[0])

    def reliabilities(self) -> Matrix:
        """Each stage score's share of its variance that is not rating noise (1 when the
        noise cannot be measured)."""
        ones = np.ones(len(self.stages))
        if self.items is None or self.error_variance is None or self.journeys < 3:
            return ones
        rated = ~np.isnan(self.x)
        with np.errstate(divide="ignore", invalid="ignore"):
            inverse = np.where(rated & (self.items > 0), 1 / self.items, np.nan)
            noise = self.error_variance * np.nanmean(inverse, axis=0)
            spread = np.nanvar(self.x, axis=0, ddof=1)
            reliability = 1 - noise / spread
        reliability = np.where(np.isfinite(reliability), reliability, 1.0)
        result: Matrix = np.clip(reliability, MIN_RELIABILITY, 1.0)
        return result


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
    days: int = 0  # of NPS answers the ranking learned from: the period and its baseline

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
        select(Answer.order_id, Answer.nps)
        .where(Answer.survey_id == survey_id, Answer.nps.is_not(None), days)
        .order_by(Answer.day.desc())
        .limit(MAX_JOURNEYS)
    )
    connection = await session.connection()  # Core rows: ~35,000 of them below
    found = (await connection.execute(nps)).all()
    answers = {int(order_id): float(y) for order_id, y in found if y is not None}
    # Their journeys' ratings by the ids just read (on ix_answers_order_stage), not by the
    # NPS query again as a subquery. One statement for all MAX_JOURNEYS of them: in_ids
    # writes the ids into its text (~40 kB, no bound values to run out of), and chunks
    # cost a compile and a round trip each (~4 ms of the read). SQLite walks the IN list
    # in ascending order, so the rows come as the ascending chunks gave them.
    ratings = select(Answer.order_id, Answer.stage, Answer.question_id, Answer.rating).where(
        in_ids(Answer.order_id, sorted(answers)), Answer.rating.is_not(None)
    )
    rated: Sequence[Any] = (await connection.execute(ratings)).all()
    return scores_from_ratings(answers, rated)


def scores_from_ratings(
    answers: Mapping[int, float], rated: Sequence[tuple[int, str, str, float]]
) -> JourneyScores:
    """The journeys' stage means, their rating counts, and the pooled variance of one
    rating around its journey's stage level once each question's own mean is removed.
    In numpy over all ratings at once: a report reads thousands of them."""
    journeys = sorted(answers)
    orders = np.asarray(journeys, dtype=np.int64)
    y = np.asarray([answers[o] for o in journeys], dtype=float)
    if not rated or not journeys:
        return JourneyScores((), np.full((len(orders), 0), np.nan), y, np.zeros((len(orders), 0)))
    order_ids, stage_ids, question_ids, values = zip(*rated, strict=True)
    x = np.asarray(values, dtype=float)
    questions, question = _codes(question_ids)
    per_question = np.bincount(question, minlength=len(questions))
    residual = x - (np.bincount(question, weights=x) / per_question)[question]
    ids = np.asarray(order_ids, dtype=np.int64)
    journey = np.minimum(np.searchsorted(orders, ids), len(orders) - 1)
    # The newest NPS answers may have moved on between the two reads.
    known = orders[journey] == ids
    if not known.all():
        journey, x, residual = journey[known], x[known], residual[known]
        stage_ids = tuple(s for s, k in zip(stage_ids, known.tolist(), strict=True) if k)
    stages, stage = _codes(stage_ids)
    return _scores(stages, y, journey * len(stages) + stage, x, residual)


def _scores(
    stages: Sequence[str], y: Matrix, cell: np.ndarray[Any, Any], x: Matrix, residual: Matrix
) -> JourneyScores:
    """The scores from each rating's cell (journey × stages + stage), value and residual
    around its question's mean."""
    size = len(y) * len(stages)
    count = np.bincount(cell, minlength=size).astype(float)
    total = np.bincount(cell, weights=x, minlength=size)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_residual = np.bincount(cell, weights=residual, minlength=size) / count
        matrix = np.where(count > 0, total / count, np.nan)
    shared = count[cell] > 1
    deviation = residual[shared] - mean_residual[cell[shared]]
    squares = float(np.sum(deviation**2))
    freedom = float(np.sum(count[count > 1] - 1))
    return JourneyScores(
        tuple(str(stage) for stage in stages),
        matrix.reshape(len(y), len(stages)),
        y,
        count.reshape(len(y), len(stages)),
        squares / freedom if freedom > 0 else None,
    )


def _codes(names: Sequence[str]) -> tuple[list[str], np.ndarray[Any, np.dtype[np.intp]]]:
    """The sorted distinct names and each name's index among them: np.unique's answer,
    without its sort of an object array (half of the scores' time)."""
    distinct = sorted(set(names))
    index = {name: i for i, name in enumerate(distinct)}
    codes = np.fromiter(map(index.__getitem__, names), dtype=np.intp, count=len(names))
    return distinct, codes


def importance_window(period: Period, baseline_periods: int) -> Period:
    """The days whose NPS answers the ranking learns from: the period and its baseline,
    and at least the last MIN_IMPORTANCE_DAYS."""
    days = max(period.days * (baseline_periods + 1), MIN_IMPORTANCE_DAYS)
    return Period(period.end - timedelta(days=days), period.end)


def priorities(
    scores: JourneyScores,
    gaps: Mapping[str, float],
    bootstraps: int = BOOTSTRAPS,
    days: int = 0,
) -> Priorities:
    """Importance with its bootstrap interval, times each stage's gap (stars below where
    it should be; a stage missing from `gaps` has none). `days`: the window `scores` were
    read over, for the words."""
    stages = [s for s in scores.stages if s in gaps]
    needed = MIN_JOURNEYS_PER_STAGE * max(len(stages), 1)
    if len(stages) < 2 or scores.journeys < needed:
        return Priorities((), scores.journeys, needed, days=days)
    columns = [scores.stages.index(s) for s in stages]
    x, y = scores.x[:, columns], scores.y
    reliability = scores.reliabilities()[columns]
    counts = _resamples(y.shape[0], bootstraps)
    full, resampled_raw = weights_and_resampled(x, y, counts, reliability)
    r_squared = float(full.sum())
    shares = _shares(full)
    resampled = _shares(resampled_raw)
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
    return Priorities(tuple(result), scores.journeys, needed, r_squared, days)


@lru_cache(maxsize=2)
def _resamples(journeys: int, bootstraps: int) -> Matrix:
    """bootstraps × journeys: how many times each journey is drawn in each resample.
    One draw of bootstraps × journeys indices is the same stream as a draw of `journeys`
    per resample, so the seed gives the resamples it always gave.

    The draw depends on its two sizes alone (a fixed seed), so it is kept: a shop with
    MAX_JOURNEYS NPS journeys in the window draws the same 8 MB for every report, which
    was ~9 ms of a report's CPU. Read-only, as it is shared."""
    rows = np.random.default_rng(SEED).integers(0, journeys, (bootstraps, journeys))
    rows += journeys * np.arange(bootstraps)[:, None]  # in place: 8 MB at 5,000 journeys
    counts: Matrix = np.bincount(rows.ravel(), minlength=bootstraps * journeys).astype(float)
    counts = counts.reshape(bootstraps, journeys)
    counts.flags.writeable = False
    return counts


def _shares(weights: Matrix) -> Matrix:
    """Each row of weights as shares of its sum (even shares where the sum is not
    positive)."""
    total = weights.sum(axis=-1, keepdims=True)
    even = np.full(weights.shape, 1 / weights.shape[-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        shares: Matrix = np.where(total <= 0, even, weights / total)
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
