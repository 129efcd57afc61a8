"""GET /api/v1/report: the report object (reports.report.Report) as JSON, for the same
periods and segments as `/report` and `cjm report`.

The figures need numpy and scipy: they are imported on the first request, not when the
bot starts (most shops never call this API, and the bot stays small)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from aiohttp import web
from pydantic import ValidationError

from api.deps import authorize, json_response
from api.errors import ApiError
from api.models import (
    AlertsOut,
    CellOut,
    ChangeOut,
    CommentOut,
    EstimateOut,
    FiguresOut,
    FlagOut,
    FunnelQuestionOut,
    FunnelWaveOut,
    PeriodOut,
    PlaceOut,
    PlacesOut,
    PlaceThemeOut,
    PrioritiesOut,
    PriorityOut,
    ReportOut,
    ReportQuery,
    ResponseOut,
    StageOut,
    StagePlacesOut,
)
from reports.aggregate import Period
from reports.figures import Figures

if TYPE_CHECKING:
    from reports.funnel import QuestionStep, WaveFunnel
    from reports.report import Cell, Report, StageRow

# The report compares with the period before, so the calendar's ends are out of reach.
EARLIEST, LATEST = date(2000, 1, 1), date(2999, 12, 31)
_NAMES = {field.alias or name for name, field in ReportQuery.model_fields.items()}


async def get_report(request: web.Request) -> web.Response:
    deps = authorize(request)
    # Empty parameters (`segment=`) mean "not given", as a form would send them; an
    # unknown one is an error even when empty.
    params = {key: value for key, value in request.query.items() if value or key not in _NAMES}
    for key in request.query:
        if len(request.query.getall(key)) > 1:
            raise ApiError.one(422, "given more than once", field=key)
    try:
        query = ReportQuery.model_validate_strings(params, strict=True)
    except ValidationError as error:
        raise ApiError.invalid(error) from None
    if query.locale is not None and query.locale not in deps.survey.locales:
        locales = ", ".join(deps.survey.locales)
        raise ApiError.one(422, f"the survey speaks {locales}", field="locale")
    from reports.report import build_report  # noqa: PLC0415  (numpy, scipy: see above)

    now = deps.clock()
    period = period_of(query, now.date())
    async with deps.sessions() as session:
        report = await build_report(session, deps.survey, period, now, query.segment, query.locale)
    return json_response(report_out(report))


def period_of(query: ReportQuery, today: date) -> Period:
    """from..to, both inclusive; without `from`, the last `days` days up to `to` (today)."""
    end = _within("to", query.end or today)
    start = _within("from", query.start or end - timedelta(days=query.days - 1))
    if start > end:
        raise ApiError.one(422, f"after 'to' ({end})", field="from")
    return Period(start, end + timedelta(days=1))


def _within(field: str, day: date) -> date:
    if not EARLIEST <= day <= LATEST:
        raise ApiError.one(422, f"{day} is outside {EARLIEST}..{LATEST}", field=field)
    return day


def report_out(report: Report) -> ReportOut:
    period = report.period
    alerts = report.alerts
    median = alerts.median_reply
    return ReportOut(
        survey_id=report.survey_id, title=report.title, locale=report.locale,
        period=PeriodOut(start=period.start, end=period.end - timedelta(days=1), days=period.days),
        segment=report.segment, generated_at=report.generated_at, answers=report.answers,
        response_rate=report.response_rate,
        response_rates={wave: _response(pair) for wave, pair in report.response_rates.items()},
        stages=[_stage(row) for row in report.stages],
        priorities=_priorities(report),
        places=_places(report),
        alerts=AlertsOut(
            alerts=alerts.alerts, answered=alerts.answered,
            answered_in_time=alerts.answered_in_time, in_time_share=alerts.in_time_share,
            median_reply_seconds=median.total_seconds() if median is not None else None,
        ),
        funnel=[_wave_funnel(wave) for wave in report.funnel.waves],
    )  # fmt: skip


def _response(pair: tuple[int, int]) -> ResponseOut:
    answered, sent = pair
    return ResponseOut(answered=answered, sent=sent, rate=answered / sent if sent else None)


def _stage(row: StageRow) -> StageOut:
    return StageOut(
        stage=_cell(row.stage), touchpoints=[_cell(tp) for tp in row.touchpoints],
        comments=[
            CommentOut(
                text=c.text, answered_at=c.answered_at, touchpoint=c.touchpoint,
                rating=c.rating, low=c.low,
            )
            for c in row.comments
        ],
        response=_response(row.response),
    )  # fmt: skip


def _cell(cell: Cell) -> CellOut:
    c = cell.change
    return CellOut(
        id=cell.id, name=cell.name, customers=cell.customers,
        estimates={
            metric: EstimateOut(
                customers=e.n, mean=e.mean, estimate=e.posterior, low=e.interval()[0],
                high=e.interval()[1],
            )
            for metric, e in cell.estimates.items()
        },
        figures=_figures(cell.figures),
        previous=_figures(cell.previous),
        change=ChangeOut(
            average_rating=c.average_rating, csat=c.csat, nps=c.nps,
            mean_valence=c.mean_valence, answers=c.answers,
        ),
        flag=FlagOut(level=cell.flag.level, reasons=list(cell.flag.reasons)),
    )  # fmt: skip


def _figures(f: Figures) -> FiguresOut:
    return FiguresOut(
        answers=f.answers, ratings=f.ratings, average_rating=f.average_rating, csat=f.csat,
        nps_answers=f.nps_answers, promoters=f.promoters, detractors=f.detractors,
        nps=f.nps, nps_margin=f.nps_margin, emotions=dict(f.emotions),
        valence_answers=f.valence_answers, mean_valence=f.mean_valence, comments=f.comments,
    )  # fmt: skip


def _priorities(report: Report) -> PrioritiesOut:
    from reports.priority_words import headline, sentence  # noqa: PLC0415

    names = {row.stage.id: row.stage.name for row in report.stages}
    ranked = report.priorities
    return PrioritiesOut(
        enough=ranked.enough, journeys=ranked.journeys, needed=ranked.needed,
        r_squared=ranked.r_squared, headline=headline(ranked, names, report.locale),
        stages=[
            PriorityOut(
                stage=p.stage, importance=p.importance, importance_low=p.low,
                importance_high=p.high, first=p.first, gap=p.gap, fix_first=p.fix_first,
                sentence=sentence(p, names.get(p.stage, p.stage), report.locale),
            )
            for p in ranked.stages
        ],
    )  # fmt: skip


def _wave_funnel(wave: WaveFunnel) -> FunnelWaveOut:
    point = wave.drop_out
    return FunnelWaveOut(
        wave_id=wave.id, name=wave.name, sent=wave.sent, delivered=wave.delivered,
        failed=wave.failed, unknown=wave.unknown, opened=wave.opened,
        completed=wave.completed, expired=wave.expired, cancelled=wave.cancelled,
        open=wave.open, drop_out=point.id if point is not None else None,
        questions=[_funnel_question(step) for step in wave.questions],
    )  # fmt: skip


def _funnel_question(step: QuestionStep) -> FunnelQuestionOut:
    share = step.stop_share
    low, high = share.interval() or (None, None)
    return FunnelQuestionOut(
        id=step.id, text=step.text, follow_up=step.follow_up, reached=step.reached,
        answered=step.answered, stopped=step.stopped, waiting=step.waiting,
        stop_share=share.value, stop_low=low, stop_high=high, drop_out=step.drop_out,
    )  # fmt: skip


def _places(report: Report) -> PlacesOut:
    from reports.place_words import place_line, ranking_note, top_lines  # noqa: PLC0415

    places, locale = report.places, report.locale
    return PlacesOut(
        by_gain=places.by_gain, journeys=places.journeys, needed=places.needed,
        note=ranking_note(places, locale), top=top_lines(places, locale),
        stages=[
            StagePlacesOut(
                rank=rank, stage=s.stage, name=s.name, gap=s.gap,
                importance=s.importance[0] if s.importance else None,
                importance_low=s.importance[1] if s.importance else None,
                importance_high=s.importance[2] if s.importance else None,
                gain=s.gain, gain_low=s.gain_interval[0] if s.gain_interval else None,
                gain_high=s.gain_interval[1] if s.gain_interval else None,
                level=s.level, unhappy=s.unhappy,
                places=[
                    PlaceOut(
                        touchpoint=p.touchpoint, name=p.name, level=p.level, reason=p.reason,
                        themes=[
                            PlaceThemeOut(
                                id=t.id, label=t.label, customers=t.customers, share=t.share,
                                quotes=list(t.quotes),
                            )
                            for t in p.themes
                        ],
                        sentence=place_line(s, p, locale),
                    )
                    for p in s.places
                ],
                suggestions=list(s.suggestions), ideas=list(s.ideas),
            )
            for rank, s in enumerate(places.stages, 1)
        ],
    )  # fmt: skip
