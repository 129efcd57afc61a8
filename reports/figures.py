"""What the answers of one cell of the map add up to: sums and counts only, so the
database can compute them with GROUP BY and two periods can be compared statistically."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

NPS_MARGIN_SHOWN = 30.0  # points: a wider 95 % margin is shown as "too few answers"


@dataclass(frozen=True, slots=True)
class Figures:
    answers: int = 0  # answers that carry a value (skipped text questions excluded)
    ratings: int = 0  # rating answers (1-5)
    rating_sum: int = 0
    rating_squares: int = 0  # sum of rating², for the variance (Welch's t)
    satisfied: int = 0  # ratings of 4 or 5 (CSAT)
    nps_answers: int = 0
    promoters: int = 0  # NPS 9-10
    detractors: int = 0  # NPS 0-6
    emotions: Mapping[str, int] = field(default_factory=dict)  # emotion id → answers
    valence_answers: int = 0
    valence_sum: int = 0
    comments: int = 0  # non-empty free-text answers

    @property
    def average_rating(self) -> float | None:
        return self.rating_sum / self.ratings if self.ratings else None

    @property
    def rating_variance(self) -> float | None:
        """Sample variance of the ratings (n − 1), None below two ratings."""
        if self.ratings < 2:
            return None
        mean = self.rating_sum / self.ratings
        return max(0.0, (self.rating_squares - self.ratings * mean * mean) / (self.ratings - 1))

    @property
    def csat(self) -> float | None:
        return self.satisfied / self.ratings if self.ratings else None

    @property
    def nps(self) -> float | None:
        """% promoters − % detractors, −100…100."""
        if not self.nps_answers:
            return None
        return 100 * (self.promoters - self.detractors) / self.nps_answers

    @property
    def nps_margin(self) -> float | None:
        """The 95 % margin of error of the NPS in points: answers coded +1/0/−1,
        SE = √((P + D − (P − D)²) / n)."""
        if not self.nps_answers:
            return None
        p = self.promoters / self.nps_answers
        d = self.detractors / self.nps_answers
        return 100 * 1.96 * math.sqrt(max(0.0, p + d - (p - d) ** 2) / self.nps_answers)

    @property
    def nps_too_few(self) -> bool:
        """An NPS whose margin is wider than ±NPS_MARGIN_SHOWN points is no figure to show:
        it reads "too few answers" instead."""
        margin = self.nps_margin
        return margin is not None and margin > NPS_MARGIN_SHOWN

    @property
    def mean_valence(self) -> float | None:
        return self.valence_sum / self.valence_answers if self.valence_answers else None
