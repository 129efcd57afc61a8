"""The report object every output is drawn from: the map's cells with their figures,
flags and change, comments, response rates (per wave, and per stage over the waves that
ask about it) and key stages, for a period and segment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from reports.aggregate import Change, Comment, Period, change, compare, response_rates
from reports.aggregate import top_comments as stage_comments
from reports.alerts import NO_ALERTS, AlertFigures, alert_figures
from reports.drivers import nps_correlations
from reports.figures import Figures
from reports.flags import Flag, KeyStage, flag, key_stages, previous_period
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
    key_stages: tuple[KeyStage, ...]
    alerts: AlertFigures = NO_ALERTS  # unhappy customers and how soon staff answered
    # What customers say per stage: pain themes, praise, suggestions (reports.themes).
    voices: Voices = NO_VOICES

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
    named = period_name(period, locale)
    rates = await response_rates(session, survey.id, period, segment)
    by_stage = stage_response_rates(survey, rates)
    rows = []
    for stage in survey.stages:
        current = compared.current.stages.get(stage.id, Figures())
        before = compared.previous.stages.get(stage.id, Figures())
        touchpoints = tuple(
            _cell(
                tp.id, survey.text(tp.name, locale),
                compared.current.touchpoints.get((stage.id, tp.id), Figures()),
                compared.previous.touchpoints.get((stage.id, tp.id), Figures()), survey,
                named, locale,
            )
            for tp in stage.touchpoints
        )  # fmt: skip
        comments = await stage_comments(session, survey.id, period, segment, stage.id)
        name = survey.text(stage.name, locale)
        cell = _cell(stage.id, name, current, before, survey, named, locale)
        rows.append(StageRow(cell, touchpoints, tuple(comments), by_stage[stage.id]))
    drivers = await nps_correlations(session, survey.id, period, segment)
    return Report(
        survey.id, survey.text(survey.title, locale), locale, period, segment, now,
        tuple(rows), rates, tuple(key_stages(drivers, locale)),
        await alert_figures(session, survey.id, period, segment),
        await build_voices(session, survey, period, segment, locale),
    )  # fmt: skip


def _cell(
    ident: str,
    name: str,
    current: Figures,
    previous: Figures,
    survey: Survey,
    named: str,
    locale: str,
) -> Cell:
    return Cell(
        ident, name, current, previous, change(current, previous),
        flag(current, previous, survey.thresholds, named, locale),
    )  # fmt: skip
