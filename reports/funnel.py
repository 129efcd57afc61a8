"""Where customers drop out: per wave sent in the period, how many waves were sent,
delivered, opened and completed, and per question, in the wave's order, how many
customers it was shown to, how many answered it and how many stopped there.

What the data model holds, and so what each figure means (one dispatch row is one
customer's wave of one order: a customer with two orders in the period counts twice):

- *sent*: the request was made — *delivered* (the send was recorded, or the customer
  answered a wave whose send result was unknown), *failed* (Telegram refused it for
  good) or *unknown* (a process stopped mid-send and nobody answered since);
- *opened*: at least one answer (`opened_at`); *completed*: the wave's status is
  `answered`, set when no question is left whose `ask_if` holds — every question that
  applied was answered (a Skip of an optional text question is an answer);
- *expired*: closed unfinished, by its expiry or a newer wave; *cancelled*: closed
  unfinished by /stop, /forget or a blocked bot; *open*: still waiting for an answer.

Per question: the wave's `current_question` is the question on screen, so a question
was *shown* to the customers who answered it, the customers whose wave closed unfinished
on it (*stopped* there) and those still looking at it (*waiting*). A follow-up whose
`ask_if` did not hold was never shown, so its denominator is the customers asked it.
The *stop share* counts decided customers only: stopped / (answered + stopped); the
waiting may still answer.

The wave's first question is where everyone who never opened the wave "stops": that is
the delivered → opened step, not a question that loses people. The *drop-out point* is
therefore sought among the later questions: the one where most customers stopped, marked
only when at least `min_customers` stopped there and, with 90 % confidence (Wilson
interval), at least DROP_FLOOR of those who reached it stop there.
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy import stats
from sqlalchemy.ext.asyncio import AsyncSession

from reports.aggregate import Period
from reports.days import gaps, runs
from reports.evidence import INTERVAL
from reports.words import wave_names
from storage import funnel as storage_funnel
from storage.funnel import FunnelRows, WaveRow
from storage.models import DispatchStatus
from surveys.model import Survey, Wave

DROP_FLOOR = 0.05  # a question losing fewer than 1 in 20 of its customers is no drop-out
_STOPPED = (DispatchStatus.EXPIRED, DispatchStatus.CANCELLED)


@dataclass(frozen=True, slots=True)
class Share:
    """`count` of `of` customers, with its Wilson interval."""

    count: int
    of: int

    @property
    def value(self) -> float | None:
        return self.count / self.of if self.of else None

    def interval(self, level: float = INTERVAL) -> tuple[float, float] | None:
        if not self.of:
            return None
        ci = stats.binomtest(self.count, self.of).proportion_ci(level, method="wilson")
        return float(ci.low), float(ci.high)


@dataclass(frozen=True, slots=True)
class QuestionStep:
    id: str
    text: str
    follow_up: bool  # asked only when its ask_if holds
    answered: int = 0
    stopped: int = 0  # waves closed unfinished with this question on screen
    waiting: int = 0  # open waves with this question on screen
    drop_out: bool = False

    @property
    def reached(self) -> int:
        """Customers to whom it was shown."""
        return self.answered + self.stopped + self.waiting

    @property
    def stop_share(self) -> Share:
        return Share(self.stopped, self.answered + self.stopped)


@dataclass(frozen=True, slots=True)
class WaveFunnel:
    id: str
    name: str
    delivered: int = 0
    failed: int = 0
    unknown: int = 0
    opened: int = 0
    completed: int = 0
    expired: int = 0
    cancelled: int = 0
    open: int = 0
    questions: tuple[QuestionStep, ...] = ()

    @property
    def sent(self) -> int:
        return self.delivered + self.failed + self.unknown

    @property
    def drop_out(self) -> QuestionStep | None:
        return next((q for q in self.questions if q.drop_out), None)


@dataclass(frozen=True, slots=True)
class Funnel:
    waves: tuple[WaveFunnel, ...] = ()
    min_customers: int = 5

    @property
    def sent(self) -> int:
        return sum(w.sent for w in self.waves)


NO_FUNNEL = Funnel()


def _wave_counts(rows: list[WaveRow]) -> dict[str, int]:
    counts = dict.fromkeys(("delivered", "failed", "unknown", "opened", "completed"), 0)
    counts |= dict.fromkeys(("expired", "cancelled", "open"), 0)
    by_status = {
        DispatchStatus.ANSWERED: "completed", DispatchStatus.EXPIRED: "expired",
        DispatchStatus.CANCELLED: "cancelled", DispatchStatus.SENT: "open",
        DispatchStatus.FAILED: "failed", DispatchStatus.UNKNOWN: "unknown",
    }  # fmt: skip
    for row in rows:
        if row.recorded or row.opened:
            counts["delivered"] += row.count
            counts["opened"] += row.count if row.opened else 0
        # An answered unknown send is delivered; a still-unknown one is counted as such.
        name = by_status.get(DispatchStatus(row.status))
        if name is not None and (name not in ("failed", "unknown") or not row.opened):
            counts[name] += row.count
    return counts


def _on_screen(rows: list[WaveRow]) -> tuple[dict[str, int], dict[str, int]]:
    """question id → (waves stopped on it, waves waiting on it), delivered waves only."""
    stopped: dict[str, int] = {}
    waiting: dict[str, int] = {}
    for row in rows:
        if row.current_question is None or not (row.recorded or row.opened):
            continue
        status = DispatchStatus(row.status)
        target = (
            stopped if status in _STOPPED else waiting if status is DispatchStatus.SENT else None
        )
        if target is not None:
            target[row.current_question] = target.get(row.current_question, 0) + row.count
    return stopped, waiting


def _steps(
    wave: Wave, survey: Survey, locale: str, rows: list[WaveRow], answered: dict[str, int]
) -> list[QuestionStep]:
    stopped, waiting = _on_screen(rows)
    return [
        QuestionStep(
            q.id, survey.text(q.text, locale), q.ask_if is not None,
            answered.get(q.id, 0), stopped.get(q.id, 0), waiting.get(q.id, 0),
        )
        for q in wave.questions
    ]  # fmt: skip


def drop_out_point(steps: list[QuestionStep], min_customers: int) -> QuestionStep | None:
    """Among the questions after the first: where most customers stopped, if the
    evidence says it loses people (see the module's docstring)."""
    candidates = [s for s in steps[1:] if s.stopped >= min_customers]
    if not candidates:
        return None
    worst = max(candidates, key=lambda s: (s.stopped, s.stop_share.value or 0.0))
    interval = worst.stop_share.interval()
    return worst if interval is not None and interval[0] >= DROP_FLOOR else None


def wave_funnel(
    survey: Survey, wave: Wave, name: str, rows: FunnelRows, locale: str, min_customers: int
) -> WaveFunnel:
    mine = [row for row in rows.waves if row.wave_id == wave.id]
    answered = {q: n for (w, q), n in rows.answered.items() if w == wave.id}
    steps = _steps(wave, survey, locale, mine, answered)
    point = drop_out_point(steps, min_customers)
    marked = tuple(
        QuestionStep(s.id, s.text, s.follow_up, s.answered, s.stopped, s.waiting, True)
        if s is point
        else s
        for s in steps
    )
    return WaveFunnel(wave.id, name, **_wave_counts(mine), questions=marked)


async def _rows(
    session: AsyncSession, survey_id: str, period: Period, segment: str | None
) -> FunnelRows:
    """Rolled-up days from the rollup, the others (still open, or not built yet) live."""
    built = await storage_funnel.built_days(session, survey_id, period.start, period.end)
    rows = FunnelRows([], {})
    if built:
        rows += await storage_funnel.rollup_rows(session, survey_id, runs(built), segment)
    for start, end in gaps(period.start, period.end, built):
        first, after = Period(start, end).bounds()
        rows += await storage_funnel.funnel_rows(session, survey_id, first, after, segment)
    return rows


async def build_funnel(
    session: AsyncSession,
    survey: Survey,
    period: Period,
    segment: str | None = None,
    locale: str | None = None,
) -> Funnel:
    """Every wave of the survey sent in `period`, in the survey's order (waves with
    nothing sent are left out)."""
    locale = locale or survey.default_locale
    rows = await _rows(session, survey.id, period, segment)
    names = wave_names(survey, locale)
    minimum = survey.thresholds.min_responses
    waves = (wave_funnel(survey, w, names[w.id], rows, locale, minimum) for w in survey.waves)
    return Funnel(tuple(w for w in waves if w.sent), minimum)
