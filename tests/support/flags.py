"""Flags for hand-made report cells, judged by the real engine: each rating of the figures
taken as one customer's, in a journey of that one cell."""

from __future__ import annotations

from reports.customers import CustomerCells, CustomerFigures, Moments
from reports.evidence import assess
from reports.figures import Figures
from reports.flags import Flag, baseline_name, flag, settings_of
from surveys.model import Thresholds


def judged(figures: Figures, locale: str = "en", thresholds: Thresholds | None = None) -> Flag:
    settings = settings_of(thresholds or Thresholds())
    n = figures.ratings
    cell = CustomerFigures(
        customers=n,
        rating=Moments(n, float(figures.rating_sum), float(figures.rating_squares)),
        csat=Moments(n, float(figures.satisfied), float(figures.satisfied)),
    )
    verdicts = assess(CustomerCells({"cell": cell}, {}), CustomerCells(), settings)
    return flag(verdicts.get(("cell", None)), settings, baseline_name(7, 4, locale), locale)
