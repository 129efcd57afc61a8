"""Pearson's r from sums, so the database can supply the inputs with GROUP BY. The map's
tests and intervals use scipy (reports.evidence)."""

from __future__ import annotations

import math


def pearson(n: int, sx: float, sy: float, sxx: float, syy: float, sxy: float) -> float | None:
    """Pearson's r from the sums of x, y, x², y² and xy; None below two pairs or when either
    variable does not vary."""
    if n < 2:
        return None
    sxx_c = n * sxx - sx * sx
    syy_c = n * syy - sy * sy
    if sxx_c <= 0 or syy_c <= 0:
        return None
    r = (n * sxy - sx * sy) / math.sqrt(sxx_c * syy_c)
    return max(-1.0, min(1.0, r))
