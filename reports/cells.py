"""The sums one cell of the map is made of, as SQL over `answers`.

Shared by the live aggregate (reports.aggregate) and the daily rollup that stores the
same sums per day (reports.rollups), so the two can never disagree on a definition.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, ColumnExpressionArgument, and_, case, func

from storage.models import Answer

CSAT_SATISFIED = 4  # ratings 4-5
NPS_PROMOTER = 9  # 9-10
NPS_DETRACTOR = 6  # 0-6

# The sums a group row carries, in Figures' field order (emotions aside); the rollup
# table has a column of each name.
SUM_FIELDS = (
    "answers", "ratings", "rating_sum", "rating_squares", "satisfied", "nps_answers",
    "promoters", "detractors", "valence_answers", "valence_sum", "comments",
)  # fmt: skip


def count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    # count(CASE WHEN … THEN 1 END): no ELSE, so the others are NULL and not counted;
    # a little cheaper per row on SQLite than sum(CASE … ELSE 0) and never NULL.
    return func.count(case((condition, 1)))


def sum_of(expression: ColumnExpressionArgument[Any]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(expression), 0)


def answer_sums() -> tuple[ColumnElement[Any], ...]:
    """SUM_FIELDS over the answers of a group, every column read from the report index."""
    answered = Answer.skipped.is_(False)
    return (
        count_if(answered),
        func.count(Answer.rating),
        sum_of(Answer.rating),
        sum_of(Answer.rating * Answer.rating),
        count_if(Answer.rating >= CSAT_SATISFIED),
        func.count(Answer.nps),
        count_if(Answer.nps >= NPS_PROMOTER),
        count_if(Answer.nps <= NPS_DETRACTOR),
        func.count(Answer.valence),
        sum_of(Answer.valence),
        # A text answer that was not skipped holds a comment: counting it from `kind`
        # keeps the scan inside the index (the comment text is not in it).
        count_if(and_(Answer.kind == "text", answered)),
    )
