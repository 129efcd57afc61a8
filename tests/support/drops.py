"""Which stages the real engine calls a drop, for synthetic weeks of customer sums."""

from __future__ import annotations

from collections.abc import Sequence

from reports.customers import CustomerCells
from reports.evidence import Rule, Settings, assess

SETTINGS = Settings(thresholds={"rating": 3.5, "csat": 0.7, "nps": 0.0, "valence": 0.0})


def drops_found(now: CustomerCells, baseline: Sequence[CustomerCells]) -> set[str]:
    """The stages with a drop that is a discovery of the report's FDR procedure."""
    verdicts = assess(now, baseline, SETTINGS)
    return {
        key[0]
        for key, cell in verdicts.cells.items()
        if any(f.rule is Rule.DROP and f.discovered for f in cell.findings)
    }
