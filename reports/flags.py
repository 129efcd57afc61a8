"""Problem detection (SPEC §4): each cell of the map gets a flag — problem, watch, ok or not
enough data — with its reason as a sentence with the numbers, and the key stages ranked by
how strongly their rating moves the final NPS.

A metric (average rating, CSAT, NPS, mood = mean emotion valence) counts only when it has at
least `min_responses` scored answers of its own. It is a *problem* when it is below the
survey's threshold or dropped significantly (at ALPHA) against the previous period, which
itself needs `min_responses` answers to be compared; *watch* when it is less than its
`*_WATCH_MARGIN` above the threshold or fell by at least its `*_DROP_WATCH` without the drop
being significant. The flag is the worst level over the metrics and carries the reasons of
that level only.

Reasons and key-stage sentences are written in the report's language (English or Russian,
see `reports.words`); numbers keep the decimal point in both, as the rest of the report."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from reports.figures import Figures
from reports.stats import (
    bounded_squares,
    mean_drop_p,
    normal_two_sided_p,
    nps_change_significant,
    nps_change_z,
    proportion_drop_p,
    proportion_drop_significant,
)
from reports.words import answers, counted, language
from surveys.model import Thresholds

ALPHA = 0.05  # significance level of the drop tests (two-sided)

# "Close to a threshold": less than this much above it.
RATING_WATCH_MARGIN = 0.3  # stars
CSAT_WATCH_MARGIN = 0.05  # 5 percentage points
NPS_WATCH_MARGIN = 10.0  # NPS points
VALENCE_WATCH_MARGIN = 0.25  # on the −2…+2 emotion scale

# A drop this large that is not significant (too few answers to tell) is worth watching.
RATING_DROP_WATCH = 0.3
CSAT_DROP_WATCH = 0.10
NPS_DROP_WATCH = 10.0
VALENCE_DROP_WATCH = 0.3

VALENCE_RANGE = (-2.0, 2.0)  # emotion valences are integers in −2…+2 (surveys.model.Emotion)

MIN_KEY_STAGE_N = 10  # fewer customers with both answers: too few to tell

# The sentences, per language. {change} and {details} are themselves built from these.
WORDS: dict[str, dict[str, str]] = {
    "en": {
        "rating": "average rating",
        "mood": "mood",
        "below": "{shown} < {threshold}, n={n}",
        "close": "{shown}, close to {threshold}, n={n}",
        "base": "{shown}, n={n}",
        "dropped": "{shown}, {change} ({details})",
        "details": "{test}, {p}, n={n} vs {previous}",
        "unclear": "not significant: {details}",
        "significant": "significant",
        "not significant": "not significant",
        "mean down": "down from {before} {period}",
        "share down": "down {points} pts from {period}",
        "nps down": "down {points} pts from {period}",
        "welch": "Welch's t",
        "two proportions": "two-proportion z-test",
        "nps margins": "z-test on the NPS margins",
        "welch bounded": "Welch's t with bounded variance",
        "not enough": "not enough data: {have} ({needed} needed)",
        "nothing scored": "no scored answers",
        # Answers of choice or text questions only: a touchpoint a choice option maps to.
        "none scored": "{answers} without a score",
        "key": "{stage}: r = {r} with NPS, n = {n}",
        "key unknown": "{stage}: r not available (answers do not vary), n = {n}",
        "too few": "{text} — too few to tell",
    },
    "ru": {
        "rating": "средняя оценка",
        "mood": "настроение",
        "below": "{shown} < {threshold}, n={n}",
        "close": "{shown}, близко к порогу {threshold}, n={n}",
        "base": "{shown}, n={n}",
        "dropped": "{shown}, {change} ({details})",
        "details": "{test}, {p}, n={n} против {previous}",
        "unclear": "незначимо: {details}",
        "significant": "значимо",
        "not significant": "незначимо",
        "mean down": "{period} было {before}",
        "share down": "на {points} п.п. ниже, чем {period}",
        "nps down": "на {points} п. ниже, чем {period}",
        "welch": "t-критерий Уэлча",
        "two proportions": "z-критерий для двух долей",
        "nps margins": "z-критерий по погрешностям NPS",
        "welch bounded": "t-критерий Уэлча с оценкой дисперсии сверху",
        "not enough": "мало данных: {have} (нужно {needed})",
        "nothing scored": "нет ответов с оценкой",
        "none scored": "{answers} без оценки",
        "key": "{stage}: r = {r} с NPS, n = {n}",
        "key unknown": "{stage}: r не определён (ответы не различаются), n = {n}",
        "too few": "{text} — слишком мало, чтобы судить",
    },
}

# The previous period by its length in days, as the drop sentences name it; 0: any other.
PERIODS: dict[str, dict[int, str]] = {
    "en": {7: "last week", 30: "the previous 30 days", 0: "the previous period"},
    "ru": {7: "на прошлой неделе", 30: "за предыдущие 30 дней", 0: "за предыдущий период"},
}

# Counted nouns of the not-enough-data sentence: English (one, many), Russian (1, 2–4, 5+).
_COUNTED: dict[str, tuple[tuple[str, str], tuple[str, str, str]]] = {
    "ratings": (("rating", "ratings"), ("оценка", "оценки", "оценок")),
    "nps": (("NPS answer", "NPS answers"), ("ответ NPS", "ответа NPS", "ответов NPS")),
    "mood": (
        ("mood answer", "mood answers"),
        ("ответ о настроении", "ответа о настроении", "ответов о настроении"),
    ),
}


def wording(locale: str) -> dict[str, str]:
    return WORDS[language(locale)]


def previous_period(days: int, locale: str = "en") -> str:
    """The period before one of `days` days, as a reason names it: "last week"."""
    names = PERIODS[language(locale)]
    return names.get(days, names[0])


class Level(StrEnum):
    PROBLEM = "problem"
    WATCH = "watch"
    OK = "ok"
    NOT_ENOUGH_DATA = "not enough data"


_SEVERITY = {Level.NOT_ENOUGH_DATA: 0, Level.OK: 1, Level.WATCH: 2, Level.PROBLEM: 3}


@dataclass(frozen=True)
class Flag:
    level: Level
    reasons: tuple[str, ...]

    @property
    def sentence(self) -> str:
        return "; ".join(self.reasons)


@dataclass(frozen=True)
class _Drop:
    change: str  # "down 18 pts from last week", "down from 4.6 last week"
    significant: bool
    large: bool
    test: str
    p: float
    n_previous: int


def _number(value: float, digits: int) -> str:
    """Fixed-point with a real minus sign, and no "−0"."""
    text = f"{value:.{digits}f}"
    if text.startswith("-"):
        return text[1:] if float(text) == 0 else "−" + text[1:]
    return text


def _threshold(value: float) -> str:
    return _number(value, 0) if value == int(value) else f"{value:g}".replace("-", "−")


def _apart(value: float, threshold: float, digits: int, scale: float = 1.0) -> str:
    """`value` with enough digits not to read as equal to a threshold it differs from."""
    for extra in range(3):
        shown = _number(value * scale, digits + extra)
        if value == threshold or shown != _number(threshold * scale, digits + extra):
            return shown
    return _number(value * scale, digits + 2)


def _p(p: float) -> str:
    if p < 0.001:
        return "p<0.001"
    shown = f"{p:.2g}"
    if (float(shown) < ALPHA) != (p < ALPHA):
        shown = f"{p:.3g}"
    return f"p={shown}"


@dataclass(frozen=True)
class _Metric:
    shown: str  # "CSAT 54%"
    value: float
    n: int
    threshold: float
    threshold_shown: str
    margin: float
    drop: _Drop | None


def _assess(metric: _Metric, w: Mapping[str, str]) -> tuple[Level, str]:
    drop = metric.drop
    shown, n, threshold = metric.shown, metric.n, metric.threshold_shown
    if metric.value < metric.threshold:
        reason = w["below"].format(shown=shown, threshold=threshold, n=n)
        if drop and (drop.significant or drop.large):
            verdict = w["significant" if drop.significant else "not significant"]
            reason += f", {drop.change} ({verdict})"
        return Level.PROBLEM, reason
    if drop and drop.significant:
        details = _details(drop, n, w)
        return Level.PROBLEM, w["dropped"].format(shown=shown, change=drop.change, details=details)
    if metric.value < metric.threshold + metric.margin:
        reason = w["close"].format(shown=shown, threshold=threshold, n=n)
        if drop and drop.large:
            reason += f", {drop.change} ({w['not significant']})"
        return Level.WATCH, reason
    if drop and drop.large:
        details = w["unclear"].format(details=_details(drop, n, w))
        return Level.WATCH, w["dropped"].format(shown=shown, change=drop.change, details=details)
    return Level.OK, w["base"].format(shown=shown, n=n)


def _details(drop: _Drop, n: int, w: Mapping[str, str]) -> str:
    return w["details"].format(test=drop.test, p=_p(drop.p), n=n, previous=drop.n_previous)


def _mean_drop(
    test: str,
    current: tuple[int, float, float],
    previous: tuple[int, float, float] | None,
    watch: float,
    change: Callable[[float], str],
) -> _Drop | None:
    if previous is None or previous[0] < 2 or current[0] < 2:
        return None
    before, now = previous[1] / previous[0], current[1] / current[0]
    if now >= before:
        return None
    p = mean_drop_p(*previous, *current)
    return _Drop(change(before), p < ALPHA, before - now >= watch - 1e-9, test, p, previous[0])


def _mean_down(w: Mapping[str, str], period: str) -> Callable[[float], str]:
    return lambda before: w["mean down"].format(before=_number(before, 1), period=period)


def _rating(
    current: Figures, previous: Figures | None, t: Thresholds, w: Mapping[str, str], period: str
) -> _Metric | None:
    value = current.average_rating
    if value is None or current.ratings < t.min_responses:
        return None
    drop = None
    if previous is not None and previous.ratings >= t.min_responses:
        drop = _mean_drop(
            w["welch"],
            (current.ratings, current.rating_sum, current.rating_squares),
            (previous.ratings, previous.rating_sum, previous.rating_squares),
            RATING_DROP_WATCH,
            _mean_down(w, period),
        )
    shown = f"{w['rating']} {_apart(value, t.rating, 1)}"
    return _Metric(
        shown, value, current.ratings, t.rating, _threshold(t.rating), RATING_WATCH_MARGIN, drop
    )


def _csat(
    current: Figures, previous: Figures | None, t: Thresholds, w: Mapping[str, str], period: str
) -> _Metric | None:
    value = current.csat
    if value is None or current.ratings < t.min_responses:
        return None
    drop = None
    before = previous.csat if previous is not None else None
    if (
        previous is not None
        and before is not None
        and previous.ratings >= t.min_responses
        and value < before
    ):
        p = proportion_drop_p(
            previous.satisfied, previous.ratings, current.satisfied, current.ratings
        )
        significant = proportion_drop_significant(
            previous.satisfied, previous.ratings, current.satisfied, current.ratings, ALPHA
        )
        points = round(100 * (before - value))
        drop = _Drop(
            w["share down"].format(points=points, period=period),
            significant,
            before - value >= CSAT_DROP_WATCH - 1e-9,
            w["two proportions"],
            p,
            previous.ratings,
        )
    shown = f"CSAT {_apart(value, t.csat, 0, 100)}%"
    threshold = f"{_threshold(t.csat * 100)}%"
    return _Metric(shown, value, current.ratings, t.csat, threshold, CSAT_WATCH_MARGIN, drop)


def _nps(
    current: Figures, previous: Figures | None, t: Thresholds, w: Mapping[str, str], period: str
) -> _Metric | None:
    value, margin = current.nps, current.nps_margin
    if value is None or margin is None or current.nps_answers < t.min_responses:
        return None
    drop = None
    if previous is not None and previous.nps_answers >= t.min_responses:
        before, before_margin = previous.nps, previous.nps_margin
        if before is not None and before_margin is not None and value < before:
            z = nps_change_z(before, before_margin, value, margin)
            drop = _Drop(
                w["nps down"].format(points=round(before - value), period=period),
                nps_change_significant(before, before_margin, value, margin),
                before - value >= NPS_DROP_WATCH - 1e-9,
                w["nps margins"],
                normal_two_sided_p(z) if math.isfinite(z) else 0.0,
                previous.nps_answers,
            )
    shown = f"NPS {_apart(value, t.nps, 0)} (±{_number(margin, 0)})"
    return _Metric(
        shown, value, current.nps_answers, t.nps, _threshold(t.nps), NPS_WATCH_MARGIN, drop
    )


def _valence(
    current: Figures, previous: Figures | None, t: Thresholds, w: Mapping[str, str], period: str
) -> _Metric | None:
    value = current.mean_valence
    if value is None or current.valence_answers < t.min_responses:
        return None
    drop = None
    if previous is not None and previous.valence_answers >= t.min_responses:
        # No sum of squares is kept for valences: bound the variance instead (conservative).
        low, high = VALENCE_RANGE
        drop = _mean_drop(
            w["welch bounded"],
            (
                current.valence_answers,
                current.valence_sum,
                bounded_squares(current.valence_answers, current.valence_sum, low, high),
            ),
            (
                previous.valence_answers,
                previous.valence_sum,
                bounded_squares(previous.valence_answers, previous.valence_sum, low, high),
            ),
            VALENCE_DROP_WATCH,
            _mean_down(w, period),
        )
    shown = f"{w['mood']} {_apart(value, t.valence, 1)}"
    return _Metric(
        shown,
        value,
        current.valence_answers,
        t.valence,
        _threshold(t.valence),
        VALENCE_WATCH_MARGIN,
        drop,
    )


def _not_enough(current: Figures, needed: int, locale: str) -> Flag:
    counts = [
        (current.ratings, _COUNTED["ratings"]),
        (current.nps_answers, _COUNTED["nps"]),
        (current.valence_answers, _COUNTED["mood"]),
    ]
    have = ", ".join(counted(n, locale, *nouns) for n, nouns in counts if n)
    w = wording(locale)
    if not have:
        unscored = w["none scored"].format(answers=answers(current.answers, locale))
        have = unscored if current.answers else w["nothing scored"]
    sentence = w["not enough"].format(have=have, needed=needed)
    return Flag(Level.NOT_ENOUGH_DATA, (sentence,))


def flag(
    current: Figures,
    previous: Figures | None,
    thresholds: Thresholds,
    period_name: str | None = None,
    locale: str = "en",
) -> Flag:
    """The flag of one stage or touchpoint, its reasons in `locale`'s language; `previous`
    is the previous period of the same length, named by `period_name` in the reasons
    (default: last week, in that language)."""
    w = wording(locale)
    period = period_name if period_name is not None else previous_period(7, locale)
    rating = _rating(current, previous, thresholds, w, period)
    csat = _csat(current, previous, thresholds, w, period)
    nps = _nps(current, previous, thresholds, w, period)
    valence = _valence(current, previous, thresholds, w, period)
    metrics = [m for m in (rating, csat, nps, valence) if m is not None]
    if not metrics:
        return _not_enough(current, thresholds.min_responses, locale)

    assessed = [_assess(metric, w) for metric in metrics]
    level = max((lvl for lvl, _ in assessed), key=_SEVERITY.__getitem__)
    if level is not Level.OK:
        return Flag(level, tuple(reason for lvl, reason in assessed if lvl is level))

    summary: list[str] = []
    if rating is not None and csat is not None:
        summary.append(w["base"].format(shown=f"{rating.shown}, {csat.shown}", n=rating.n))
    for metric in (nps, valence):
        if metric is not None:
            summary.append(w["base"].format(shown=metric.shown, n=metric.n))
    return Flag(Level.OK, tuple(summary))


@dataclass(frozen=True)
class KeyStage:
    stage: str
    n: int  # customers who answered both the stage's rating and the NPS question
    r: float | None  # Pearson's r between the stage rating and the NPS
    locale: str = "en"  # of the sentence

    @property
    def too_few(self) -> bool:
        return self.n < MIN_KEY_STAGE_N

    @property
    def sentence(self) -> str:
        w = wording(self.locale)
        if self.r is None:
            text = w["key unknown"].format(stage=self.stage, n=self.n)
        else:
            text = w["key"].format(stage=self.stage, r=_number(self.r, 2), n=self.n)
        return w["too few"].format(text=text) if self.too_few else text


def key_stages(
    correlations: Mapping[str, tuple[int, float | None]], locale: str = "en"
) -> list[KeyStage]:
    """Stages ranked by |r| between their rating and the NPS, strongest first; stages with a
    correlation but fewer than MIN_KEY_STAGE_N customers come after those with enough, and
    stages without a correlation come last. Their sentences are in `locale`'s language."""
    stages = [KeyStage(stage, n, r, locale) for stage, (n, r) in correlations.items()]

    def rank(stage: KeyStage) -> tuple[int, float]:
        if stage.r is None:
            return 2, 0.0
        return (1 if stage.too_few else 0), -abs(stage.r)

    return sorted(stages, key=rank)
