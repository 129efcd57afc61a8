"""The report object every output is drawn from: the map's cells with their figures,
flags and change, comments, response rates and key stages, for a period and segment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from reports.aggregate import Change, Comment, Period, change, compare, response_rates
from reports.aggregate import top_comments as stage_comments
from reports.drivers import nps_correlations
from reports.figures import Figures
from reports.flags import Flag, KeyStage, flag, key_stages
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

    @property
    def answers(self) -> int:
        return sum(row.stage.figures.answers for row in self.stages)

    @property
    def response_rate(self) -> float | None:
        answered = sum(a for a, _ in self.response_rates.values())
        sent = sum(s for _, s in self.response_rates.values())
        return answered / sent if sent else None


def period_name(period: Period) -> str:
    return {7: "last week", 30: "the previous 30 days"}.get(period.days, "the previous period")


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
    named = period_name(period)
    rows = []
    for stage in survey.stages:
        current = compared.current.stages.get(stage.id, Figures())
        before = compared.previous.stages.get(stage.id, Figures())
        touchpoints = tuple(
            _cell(
                tp.id, survey.text(tp.name, locale),
                compared.current.touchpoints.get((stage.id, tp.id), Figures()),
                compared.previous.touchpoints.get((stage.id, tp.id), Figures()), survey, named,
            )
            for tp in stage.touchpoints
        )  # fmt: skip
        comments = await stage_comments(session, survey.id, period, segment, stage.id)
        cell = _cell(stage.id, survey.text(stage.name, locale), current, before, survey, named)
        rows.append(StageRow(cell, touchpoints, tuple(comments)))
    rates = await response_rates(session, survey.id, period, segment)
    drivers = await nps_correlations(session, survey.id, period, segment)
    return Report(
        survey.id, survey.text(survey.title, locale), locale, period, segment, now,
        tuple(rows), rates, tuple(key_stages(drivers)),
    )  # fmt: skip


def _cell(
    ident: str, name: str, current: Figures, previous: Figures, survey: Survey, named: str
) -> Cell:
    return Cell(
        ident, name, current, previous, change(current, previous),
        flag(current, previous, survey.thresholds, named),
    )  # fmt: skip
