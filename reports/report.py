"""The report object every output is drawn from: the map's cells with their figures,
flags and change, comments, response rates (per wave, and per stage over the waves that
ask about it) and the priorities (what to fix first), for a period and segment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from reports.aggregate import Change, Comment, Period, change, compare, response_rates
from reports.aggregate import top_comments as stage_comments
from reports.alerts import NO_ALERTS, AlertFigures, alert_figures
from reports.customers import CustomerCells, customer_periods, follow_ups
from reports.days import FirstDay, first_answer_day
from reports.evidence import SPREAD_PERIODS, Estimate, Settings, Verdicts, assess
from reports.figures import Figures
from reports.flags import Flag, baseline_name, flag, previous_period, settings_of
from reports.funnel import NO_FUNNEL, Funnel, build_funnel
from reports.places import NO_PLACES, Places, build_places
from reports.priorities import (
    NO_PRIORITIES,
    Priorities,
    gaps_to_target,
    importance_window,
    journey_scores,
    priorities,
)
from reports.themes import NO_VOICES, Voices, build_voices
from surveys.model import Survey


@dataclass(frozen=True, slots=True)
class Cell:
    """A stage, or a touchpoint of a stage, on the map."""

    id: str
    name: str
    figures: Figures
    previous: Figures
    change: Change
    flag: Flag
    # metric → the customer-level estimate with its interval (enough customers only)
    estimates: Mapping[str, Estimate] = field(default_factory=dict)
    customers: int = 0  # customers with a scored answer in the cell

    def figure(self, metric: str) -> float | None:
        """The figure the map prints for "rating" (stars), "csat" (0–1) or "nps" (points):
        the customer-level estimate where the cell has one — the centre of the interval
        printed beside it and the figure its flag's sentence quotes — else the answers' own
        figure (a cell with too few customers for an interval)."""
        estimate = self.estimates.get(metric)
        if estimate is not None:
            return 100 * estimate.posterior if metric == "nps" else estimate.posterior
        f = self.figures
        return {"rating": f.average_rating, "csat": f.csat, "nps": f.nps}[metric]


@dataclass(frozen=True, slots=True)
class StageRow:
    stage: Cell
    touchpoints: tuple[Cell, ...]
    comments: tuple[Comment, ...]
    # (answered, sent) over the waves that ask about the stage: see stage_response_rates
    response: tuple[int, int] = (0, 0)

    @property
    def response_rate(self) -> float | None:
        answered, sent = self.response
        return answered / sent if sent else None


@dataclass(frozen=True, slots=True)
class Report:
    survey_id: str
    title: str
    locale: str
    period: Period
    segment: str | None
    generated_at: datetime
    stages: tuple[StageRow, ...]
    response_rates: dict[str, tuple[int, int]]  # wave id → (answered, sent)
    priorities: Priorities = NO_PRIORITIES  # what to fix first
    alerts: AlertFigures = NO_ALERTS  # unhappy customers and how soon staff answered
    min_customers: int = 5  # customers a cell needs before it is judged

    @property
    def customers(self) -> int:
        """Customers who answered the most answered stage: at least this many answered."""
        return max((row.stage.customers for row in self.stages), default=0)

    @property
    def judged(self) -> bool:
        """Whether any stage had enough customers to be judged at all."""
        return any(row.stage.estimates for row in self.stages)

    # What customers say per stage: pain themes, praise, suggestions (reports.themes).
    voices: Voices = NO_VOICES
    # Where customers drop out, per wave sent in the period (reports.funnel).
    funnel: Funnel = NO_FUNNEL
    # Per stage, the places to improve ranked by expected gain (reports.places).
    places: Places = NO_PLACES

    @property
    def answers(self) -> int:
        return sum(row.stage.figures.answers for row in self.stages)

    @property
    def response_rate(self) -> float | None:
        answered = sum(a for a, _ in self.response_rates.values())
        sent = sum(s for _, s in self.response_rates.values())
        return answered / sent if sent else None


def period_name(period: Period, locale: str = "en") -> str:
    return previous_period(period.days, locale)


def stage_response_rates(
    survey: Survey, rates: Mapping[str, tuple[int, int]]
) -> dict[str, tuple[int, int]]:
    """stage id → (answered, sent) summed over the waves with a question about the stage.

    A wave is answered or not as a whole, so a wave asking about several stages counts for
    each of them; a stage no wave asks about gets (0, 0)."""
    result = {}
    for stage in survey.stages:
        waves = [w.id for w in survey.waves if any(q.stage == stage.id for q in w.questions)]
        pairs = [rates.get(wave, (0, 0)) for wave in waves]
        result[stage.id] = (sum(a for a, _ in pairs), sum(s for _, s in pairs))
    return result


@dataclass(frozen=True, slots=True)
class _Judge:
    verdicts: Verdicts
    settings: Settings
    baseline: str
    locale: str
    # stage → customers who answered it low, in the period and in the baseline.
    unhappy: tuple[dict[str, int], dict[str, int]]

    def cell(
        self, key: tuple[str, str | None], name: str, current: Figures, previous: Figures
    ) -> Cell:
        verdict = self.verdicts.get(key)
        return Cell(
            key[1] or key[0], name, current, previous, change(current, previous),
            flag(verdict, self.settings, self.baseline, self.locale),
            verdict.estimates if verdict is not None else {},
            verdict.customers if verdict is not None else 0,
        )  # fmt: skip


async def _judge(
    session: AsyncSession,
    survey: Survey,
    period: Period,
    segment: str | None,
    locale: str,
    first: FirstDay,
) -> _Judge:
    """The customer-level verdicts of every cell: the period against its baseline."""
    excluded = follow_ups(survey)
    periods = survey.thresholds.baseline_periods
    # The period, its baseline's periods, and before them more periods for τ² alone
    # (SPREAD_PERIODS in all, where the shop has answers that far back).
    bounds = [(period.start, period.end)]
    for back in range(max(periods, SPREAD_PERIODS), 0, -1):
        start = period.start - timedelta(days=period.days * back)
        bounds.append((start, start + timedelta(days=period.days)))
    current, *earlier = await customer_periods(
        session, survey.id, bounds, segment, excluded, first
    )
    older, earlier = earlier[:-periods], earlier[-periods:]
    baseline = sum(earlier, CustomerCells())
    settings = settings_of(survey.thresholds)
    verdicts = assess(current, earlier, settings, [p for p in older if p.stages])
    unhappy = (
        {stage: figures.low for stage, figures in current.stages.items()},
        {stage: figures.low for stage, figures in baseline.stages.items()},
    )
    name = baseline_name(period.days, periods, locale)
    return _Judge(verdicts, settings, name, locale, unhappy)


async def build_report(
    session: AsyncSession,
    survey: Survey,
    period: Period,
    now: datetime,
    segment: str | None = None,
    locale: str | None = None,
) -> Report:
    locale = locale or survey.default_locale
    compared = await compare(session, survey.id, period, segment)
    # Read once: the customer periods and the theme lanes both start from it.
    first = FirstDay(await first_answer_day(session, survey.id))
    judge = await _judge(session, survey, period, segment, locale, first)
    rates = await response_rates(session, survey.id, period, segment)
    by_stage = stage_response_rates(survey, rates)
    rows = []
    for stage in survey.stages:
        touchpoints = tuple(
            judge.cell(
                (stage.id, tp.id), survey.text(tp.name, locale),
                compared.current.touchpoints.get((stage.id, tp.id), Figures()),
                compared.previous.touchpoints.get((stage.id, tp.id), Figures()),
            )
            for tp in stage.touchpoints
        )  # fmt: skip
        comments = await stage_comments(session, survey.id, period, segment, stage.id)
        cell = judge.cell(
            (stage.id, None), survey.text(stage.name, locale),
            compared.current.stages.get(stage.id, Figures()),
            compared.previous.stages.get(stage.id, Figures()),
        )  # fmt: skip
        rows.append(StageRow(cell, touchpoints, tuple(comments), by_stage[stage.id]))
    ratings = {
        row.stage.id: row.stage.estimates["rating"].posterior
        for row in rows
        if "rating" in row.stage.estimates
    }
    window = importance_window(period, survey.thresholds.baseline_periods)
    scores = await journey_scores(session, survey.id, window, segment)
    gaps = gaps_to_target(ratings, survey.thresholds.rating)
    ranked = priorities(scores, gaps, days=window.days)
    voices = await build_voices(
        session, survey, period, segment, locale, judge.unhappy, known=first
    )
    ideas = {s.id: [survey.text(idea, locale) for idea in s.ideas] for s in survey.stages}
    return Report(
        survey.id, survey.text(survey.title, locale), locale, period, segment, now,
        tuple(rows), rates, ranked,
        await alert_figures(session, survey.id, period, segment),
        survey.thresholds.min_responses, voices,
        funnel=await build_funnel(session, survey, period, segment, locale),
        places=build_places(rows, ranked, gaps, voices, ideas),
    )  # fmt: skip
