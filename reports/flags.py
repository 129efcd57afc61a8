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
from reports.texts import tn
from reports.words import language
from surveys.formats import decimal, number, percent, plural
from surveys.model import Thresholds

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "rating": "average rating",
        "csat": "CSAT",
        "nps": "NPS",
        "valence": "mood",
        "interval": "{value} (90%: {low} to {high})",
        "below": "{shown} < {line}, {customers}",
        "maybe below": "{shown}, may be below {line} — not yet conclusive, {customers}",
        "relative": (
            "{amount} below the same customers' other ratings (90%: {low} to {high}), {customers}"
        ),
        "maybe relative": (
            "{amount} below the same customers' other ratings (90%: {low} to {high}) — not yet "
            "conclusive, {customers}"
        ),
        "drop": "{shown}, down {amount} from {before} {baseline} ({customers} vs {previous})",
        "relative drop": (
            "{amount} further below the same customers' other ratings than {baseline} "
            "({customers} vs {previous})"
        ),
        "maybe relative drop": (
            "{amount} further below the same customers' other ratings than {baseline} — not "
            "yet conclusive ({customers} vs {previous})"
        ),
        "maybe drop": (
            "{shown}, down {amount} from {before} {baseline} — not yet conclusive "
            "({customers} vs {previous})"
        ),
        "base": "{shown}, {customers}",
        "window": "{customers}; {total} counting those {baseline}",
        "not enough": "not enough data: {have} ({needed} needed)",
        "nothing scored": "no scored answers",
    },
    "ru": {
        "rating": "средняя оценка",
        "csat": "CSAT",
        "nps": "NPS",
        "valence": "настроение",
        "interval": "{value} (90 %: от {low} до {high})",
        "below": "{shown} < {line} — {customers}",  # "< 3,5, 21" would read as one number
        "maybe below": "{shown}, возможно ниже {line} — пока не доказано, {customers}",
        "relative": (
            "на {amount} ниже других оценок тех же клиентов (90 %: от {low} до {high}), "
            "{customers}"
        ),
        "maybe relative": (
            "на {amount} ниже других оценок тех же клиентов (90 %: от {low} до {high}) — пока не "
            "доказано, {customers}"
        ),
        "drop": (
            "{shown}, на {amount} ниже, чем {before} {baseline} ({customers} против {previous})"
        ),
        "relative drop": (
            "на {amount} больше отстаёт от других оценок тех же клиентов, чем {baseline} "
            "({customers} против {previous})"
        ),
        "maybe relative drop": (
            "на {amount} больше отстаёт от других оценок тех же клиентов, чем {baseline} — пока "
            "не доказано "
            "({customers} против {previous})"
        ),
        "maybe drop": (
            "{shown}, на {amount} ниже, чем {before} {baseline} — пока не доказано "
            "({customers} против {previous})"
        ),
        "base": "{shown}, {customers}",
        "window": "{customers}; {total} вместе с клиентами {baseline}",
        "not enough": "мало данных: {have} (нужно {needed})",
        "nothing scored": "нет ответов с оценкой",
    },
}

# The baseline by the report period's length in days, as the drop sentences name it, in
# the forms of the number of periods (CLDR plural categories; "1" for exactly one).
BASELINES: dict[str, dict[int, dict[str, str]]] = {
    "en": {
        7: {"1": "over the previous week", "other": "over the previous {n} weeks"},
        0: {"1": "over the previous period", "other": "over the previous {n} periods"},
    },
    "ru": {
        7: {
            "1": "за предыдущую неделю", "one": "за предыдущие {n} неделю",
            "few": "за предыдущие {n} недели", "other": "за предыдущие {n} недель",
        },
        0: {
            "1": "за предыдущий период", "one": "за предыдущие {n} период",
            "few": "за предыдущие {n} периода", "other": "за предыдущие {n} периодов",
        },
    },
}  # fmt: skip
# The previous period by its length in days (the change columns of the map).
PERIODS: dict[str, dict[int, str]] = {
    "en": {7: "last week", 30: "the previous 30 days", 0: "the previous period"},
    "ru": {7: "на прошлой неделе", 30: "за предыдущие 30 дней", 0: "за предыдущий период"},
}


def wording(locale: str) -> dict[str, str]:
    return WORDS[language(locale)]


def previous_period(days: int, locale: str = "en") -> str:
    """The period before one of `days` days, as the map names it: "last week"."""
    names = PERIODS[language(locale)]
    return names.get(days, names[0])


def baseline_name(days: int, periods: int, locale: str = "en") -> str:
    lang = language(locale)
    forms = BASELINES[lang].get(days, BASELINES[lang][0])
    return forms["1"] if periods == 1 else plural(periods, lang, forms)


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


# Points of CSAT or NPS in a difference: "12 pts", "на 12 пунктов".
POINTS = {
    "en": {"one": "{n} pt", "other": "{n} pts"},
    "ru": {"one": "{n} пункт", "few": "{n} пункта", "many": "{n} пунктов", "other": "{n} пункта"},
}


def _amount(metric: str, value: float, locale: str) -> str:
    """A difference as a positive amount: 0.4 (stars), 12 pts, 12 пунктов."""
    if metric in ("csat", "nps"):
        return plural(round(100 * abs(value)), language(locale), POINTS[language(locale)])
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
