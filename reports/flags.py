"""The flag of each cell of the map — problem, watch, ok or not enough data — with its reasons
as sentences with the numbers, from the verdicts of `reports.evidence`.

The rules themselves (customers as the unit, shrinkage, the three rules and the control of
false discoveries over the report) live in `reports.evidence`; this module words them in
the report's language (English or Russian, see `reports.words`): "average rating 3.2
(90 %: 2.9–3.5) < 3.5, 41 customers"."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from reports.evidence import CellVerdict, Estimate, Finding, Rule, Settings
from reports.levels import Level
from reports.texts import t, table, tn
from surveys.formats import decimal, number, percent
from surveys.model import Thresholds

# The catalog's flag_<name> messages (see README, Translations), by their names here.
WORDS = (
    "rating", "csat", "nps", "valence", "interval", "below", "maybe below", "relative",
    "maybe relative", "drop", "relative drop", "maybe relative drop", "maybe drop", "base",
    "window", "not enough", "nothing scored",
)  # fmt: skip
# The previous period by its length in days (the change columns of the map): a message.
PERIODS = {7: "previous_week", 30: "previous_30_days"}


def wording(locale: str) -> dict[str, str]:
    return table(locale, "flag_", WORDS)


def previous_period(days: int, locale: str = "en") -> str:
    """The period before one of `days` days, as the map names it: "last week"."""
    return t(locale, PERIODS.get(days, "previous_period"))


def baseline_name(days: int, periods: int, locale: str = "en") -> str:
    """The baseline as the drop sentences name it: "over the previous 4 weeks"."""
    if days == 7:
        return (
            t(locale, "baseline_week") if periods == 1 else tn(locale, "baseline_weeks", periods)
        )
    return (
        t(locale, "baseline_period") if periods == 1 else tn(locale, "baseline_periods", periods)
    )


def customers(n: int, locale: str) -> str:
    return tn(locale, "customers", n)


# Reasons read in this order: the rating first, mood last; the absolute line before the rest.
_ORDER = ("rating", "csat", "nps", "valence", "relative")
_RULES = (Rule.THRESHOLD, Rule.RELATIVE, Rule.DROP)


@dataclass(frozen=True)
class Flag:
    level: Level
    reasons: tuple[str, ...]
    # The rules behind a problem or watch flag: threshold, relative, drop.
    rules: frozenset[str] = field(default_factory=frozenset)

    @property
    def sentence(self) -> str:
        return "; ".join(self.reasons)


def _number(value: float, digits: int, locale: str = "en") -> str:
    """Fixed-point with the locale's decimal sign (3.2, 3,2), a real minus sign, and no
    "−0"."""
    text = decimal(value, digits, locale)
    if text.startswith("-"):
        return "−" + text[1:] if any(c in "123456789" for c in text) else text[1:]
    return text


def shown(metric: str, value: float, locale: str = "en") -> str:
    """A metric's value as owners read it: 4.2 stars, 85 %, NPS +12, mood +0.4; with the
    decimal comma in Russian (4,2)."""
    if metric == "csat":
        return percent(round(100 * value) / 100, locale)
    if metric == "nps":
        points = _number(100 * value, 0, locale)
        return points if points.startswith(("−", "0")) else f"+{points}"
    text = _number(value, 1, locale)
    if metric == "valence" and not text.startswith("−") and float(text.replace(",", ".")):
        return f"+{text}"
    return text


def _amount(metric: str, value: float, locale: str) -> str:
    """A difference as a positive amount: 0.4 (stars), 12 pts, 12 пунктов."""
    if metric in ("csat", "nps"):
        return tn(locale, "points", round(100 * abs(value)))  # "12 pts", "на 12 пунктов"
    return _number(abs(value), 1, locale)


def _with_interval(
    metric: str, value: float, low: float, high: float, w: Mapping[str, str], locale: str
) -> str:
    return w["interval"].format(
        value=shown(metric, value, locale), low=shown(metric, low, locale),
        high=shown(metric, high, locale),
    )  # fmt: skip


def _limits(metric: str, low: float, high: float) -> tuple[float, float]:
    bounds = {"rating": (1.0, 5.0), "csat": (0.0, 1.0), "nps": (-1.0, 1.0)}
    floor, ceiling = bounds.get(metric, (-2.0, 2.0))
    return max(floor, low), min(ceiling, high)


def span(metric: str, estimate: Estimate, level: float = 0.90, locale: str = "en") -> str:
    """An estimate's interval as the map prints it beside the figure: 3.9…4.4, 61…78 %,
    −12…+30 (3,9…4,4 in Russian)."""
    low, high = _limits(metric, *estimate.interval(level))
    first, last = shown(metric, low, locale), shown(metric, high, locale)
    if metric == "csat":
        first = first.removesuffix("%").rstrip("\xa0 ")
    return f"{first}…{last}"


def with_interval(metric: str, estimate: Estimate, locale: str = "en") -> str:
    """A figure and its 90 % interval as a sentence quotes it: "−52 (90%: −61 to −42)"."""
    low, high = _limits(metric, *estimate.interval(0.90))
    return _with_interval(metric, estimate.posterior, low, high, wording(locale), locale)


def _label(metric: str, w: Mapping[str, str]) -> str:
    return w[metric]


def _reason(f: Finding, w: Mapping[str, str], locale: str, baseline: str) -> str:
    n = customers(f.n, locale)
    if f.window:
        n = w["window"].format(customers=n, total=number(f.window, locale), baseline=baseline)
    if f.rule is Rule.RELATIVE:
        key = "relative" if f.discovered else "maybe relative"
        low, high = -f.high, -f.low
        return w[key].format(
            amount=_number(abs(f.value), 1, locale), low=_number(max(0.0, low), 1, locale),
            high=_number(high, 1, locale), customers=n,
        )  # fmt: skip
    if f.rule is Rule.DROP and f.metric == "relative":
        key = "relative drop" if f.discovered else "maybe relative drop"
        return w[key].format(
            amount=_number(abs(f.value), 1, locale), baseline=baseline, customers=n,
            previous=number(f.n_baseline, locale),
        )  # fmt: skip
    if f.rule is Rule.DROP:
        key = "drop" if f.discovered else "maybe drop"
        now = (f.baseline or 0.0) + f.value
        return w[key].format(
            shown=f"{_label(f.metric, w)} {shown(f.metric, now, locale)}",
            amount=_amount(f.metric, f.value, locale),
            before=shown(f.metric, f.baseline or 0.0, locale),
            baseline=baseline, customers=n, previous=number(f.n_baseline, locale),
        )  # fmt: skip
    low, high = _limits(f.metric, f.low, f.high)
    text = f"{_label(f.metric, w)} {_with_interval(f.metric, f.value, low, high, w, locale)}"
    key = "below" if f.discovered else "maybe below"
    return w[key].format(shown=text, line=shown(f.metric, f.line, locale), customers=n)


def _ok(estimates: Mapping[str, Estimate], w: Mapping[str, str], level: float, locale: str) -> str:
    parts = []
    for metric, estimate in estimates.items():
        low, high = _limits(metric, *estimate.interval(level))
        value = _with_interval(metric, estimate.posterior, low, high, w, locale)
        parts.append(f"{_label(metric, w)} {value}")
    return ", ".join(parts)


def not_enough(customers_seen: int, needed: int, locale: str) -> Flag:
    w = wording(locale)
    have = customers(customers_seen, locale) if customers_seen else w["nothing scored"]
    return Flag(Level.NOT_ENOUGH_DATA, (w["not enough"].format(have=have, needed=needed),))


def flag(
    verdict: CellVerdict | None, settings: Settings, baseline: str, locale: str = "en"
) -> Flag:
    """The flag of one cell from its verdict, its reasons in `locale`'s language;
    `baseline` names the drop rule's baseline ("over the previous 4 weeks")."""
    if verdict is None or not verdict.estimates:
        seen = verdict.customers if verdict is not None else 0
        return not_enough(seen, settings.min_customers, locale)
    w = wording(locale)
    level = Level.PROBLEM if verdict.problem else Level.WATCH if verdict.watch else Level.OK
    if level is Level.OK:
        n = max(e.n for e in verdict.estimates.values())
        sentence = w["base"].format(
            shown=_ok(verdict.estimates, w, settings.interval, locale),
            customers=customers(n, locale),
        )
        return Flag(Level.OK, (sentence,))
    chosen = sorted(
        (f for f in verdict.findings if f.discovered == (level is Level.PROBLEM)),
        key=lambda f: (_ORDER.index(f.metric), _RULES.index(f.rule)),
    )
    reasons = tuple(dict.fromkeys(_reason(f, w, locale, baseline) for f in chosen))
    return Flag(level, reasons, frozenset(str(f.rule) for f in chosen))


def settings_of(thresholds: Thresholds) -> Settings:
    """The survey's keys in the evidence's internal units."""
    return Settings(
        thresholds={
            "rating": thresholds.rating, "csat": thresholds.csat,
            "nps": thresholds.nps / 100, "valence": thresholds.valence,
        },
        min_customers=thresholds.min_responses,
        relative_rating=thresholds.relative_rating,
        drops={
            "rating": thresholds.drop_rating, "csat": thresholds.drop_csat,
            "nps": thresholds.drop_nps / 100, "valence": thresholds.drop_valence,
            "relative": thresholds.drop_rating,
        },
        fdr=thresholds.fdr,
        watch_fdr=thresholds.watch_fdr,
    )  # fmt: skip
