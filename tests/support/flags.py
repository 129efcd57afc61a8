"""Flags for hand-made report cells, judged by the real engine: each rating of the figures
taken as one customer's, in a journey of that one cell."""

from __future__ import annotations

from collections.abc import Mapping

from reports.customers import CustomerCells, CustomerFigures, Moments
from reports.evidence import Estimate, assess
from reports.figures import Figures
from reports.flags import Flag, baseline_name, flag, settings_of
from surveys.model import Thresholds


def judged(figures: Figures, locale: str = "en", thresholds: Thresholds | None = None) -> Flag:
    return verdict(figures, locale, thresholds)[0]


def verdict(
    figures: Figures, locale: str = "en", thresholds: Thresholds | None = None
) -> tuple[Flag, Mapping[str, Estimate], int]:
    """The flag, the estimates and the customers of a cell of these figures."""
    settings = settings_of(thresholds or Thresholds())
    n = figures.ratings
    cell = CustomerFigures(
        customers=n,
        rating=Moments(n, float(figures.rating_sum), float(figures.rating_squares)),
        csat=Moments(n, float(figures.satisfied), float(figures.satisfied)),
    )
    verdicts = assess(CustomerCells({"cell": cell}, {}), (), settings)
    judged = verdicts.get(("cell", None))
    shown = flag(judged, settings, baseline_name(7, 4, locale), locale)
    return shown, (judged.estimates if judged else {}), n
