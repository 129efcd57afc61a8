"""The report as one screen of Telegram text: the top three places to improve first
(reports.places), then the worst stages with their reasons (and their response rate)."""

from __future__ import annotations

from datetime import timedelta

from reports.alerts import alerts_line
from reports.evidence import Estimate
from reports.figures import Figures
from reports.flags import customers, with_interval
from reports.levels import Level
from reports.place_words import summary_lines
from reports.priority_words import headline
from reports.report import Report, StageRow
from reports.texts import t, table
from reports.words import answers
from surveys.formats import percent

TELEGRAM_LIMIT = 4096
WORST_SHOWN = 3
_ORDER = {Level.PROBLEM: 0, Level.WATCH: 1, Level.OK: 2, Level.NOT_ENOUGH_DATA: 3}
_MARK = {Level.PROBLEM: "🔴", Level.WATCH: "🟠", Level.OK: "🟢", Level.NOT_ENOUGH_DATA: "⚪"}
# The catalog's summary_<name> messages, by their names here.
LABELS = ("response", "nps", "worst", "fine", "not yet", "too few", "files")


def summary_text(report: Report) -> str:
    labels = table(report.locale, "summary_", LABELS)
    last_day = report.period.end - timedelta(days=1)
    # The top places to improve first: what the owner acts on this week.
    places = summary_lines(report.places, report.locale)
    places += [""] if places else []
    lines = [
        report.title,
        f"{report.period.start:%d.%m.%Y}–{last_day:%d.%m.%Y}"
        + (f" · {report.segment}" if report.segment else ""),
        *places,
        _headline(report, labels),
        "",
    ]
    worst = sorted(
        (row for row in report.stages if row.stage.flag.level in (Level.PROBLEM, Level.WATCH)),
        key=lambda row: _ORDER[row.stage.flag.level],
    )[:WORST_SHOWN]
    if worst:
        lines.append(f"{labels['worst']}:")
        lines.extend(_stage_line(row, labels, report.locale) for row in worst)
    elif report.judged:
        lines.append(labels["fine"])
    else:
        lines.append(
            labels["not yet"].format(
                have=customers(report.customers, report.locale), needed=report.min_customers
            )
        )
    if report.judged:
        names = {row.stage.id: row.stage.name for row in report.stages}
        lines += ["", headline(report.priorities, names, report.locale)]
    if (alerts := alerts_line(report.alerts, report.locale)) is not None:
        lines += ["", alerts]
    lines += ["", labels["files"]]
    return _fit("\n".join(lines))


def _headline(report: Report, labels: dict[str, str]) -> str:
    parts = [answers(report.answers, report.locale)]
    if report.response_rate is not None:
        parts.append(f"{labels['response']} {percent(report.response_rate, report.locale)}")
    nps = _nps(report, labels)
    if nps:
        parts.append(nps)
    return " · ".join(parts)


def _nps(report: Report, labels: dict[str, str]) -> str | None:
    """The NPS as the map shows it: the customer-level estimate with its 90 % interval
    (the map's own figure when one stage asks it), "too few answers" when it says little."""
    total = _nps_total(report)
    if total.nps is None or total.nps_margin is None:
        return None
    if total.nps_too_few:
        return f"{labels['nps']}: {labels['too few']}"
    asked = [row for row in report.stages if row.stage.figures.nps_answers]
    estimate = asked[0].stage.estimates.get("nps") if len(asked) == 1 else None
    if estimate is None:
        # Several stages ask it (or too few customers for a cell estimate): the answers'
        # own NPS, its 90 % interval from the normal approximation of the +1/0/−1 codes.
        se = total.nps_margin / 1.96 / 100
        n = total.nps_answers
        estimate = Estimate(n, total.nps / 100, total.nps / 100, se, max(n - 1, 1), se)
    return f"{labels['nps']} {with_interval('nps', estimate, report.locale)}"


def _nps_total(report: Report) -> Figures:
    """NPS over every stage that asks it (usually one)."""
    n = sum(row.stage.figures.nps_answers for row in report.stages)
    promoters = sum(row.stage.figures.promoters for row in report.stages)
    detractors = sum(row.stage.figures.detractors for row in report.stages)
    return Figures(nps_answers=n, promoters=promoters, detractors=detractors)


def _stage_line(row: StageRow, labels: dict[str, str], locale: str) -> str:
    stage = row.stage
    line = f"{_MARK[stage.flag.level]} {stage.name}: {stage.flag.sentence}"
    if row.response_rate is not None:
        line += f" · {labels['response']} {percent(row.response_rate, locale)}"
    low = next((c for c in row.comments if c.low), None)
    if low is not None:
        quote = low.text if len(low.text) <= 120 else low.text[:119].rstrip() + "…"
        line += f"\n   {t(locale, 'quote', text=quote)}"
    return line


def _fit(text: str) -> str:
    return text if len(text) <= TELEGRAM_LIMIT else text[: TELEGRAM_LIMIT - 1] + "…"
