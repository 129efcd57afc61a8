"""weekly rollups: each ISO week's sums per report cell, summed from its seven built days

- answer_rollup_weeks: per (survey, Monday, stage, touchpoint, emotion, segment) the sums
  of `answer_rollups` over the week's seven days;
- rollup_weeks: which weeks those hold.

Nothing is built here: the scheduler's next refresh builds every week whose seven days
are built (reports.week_rollup).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = ("survey_id", "week", "stage", "touchpoint", "emotion", "segment")
_SUMS = (
    "rows", "answers", "ratings", "rating_sum", "rating_squares", "satisfied",
    "nps_answers", "promoters", "detractors", "valence_answers", "valence_sum", "comments",
)  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "answer_rollup_weeks",
        sa.Column("survey_id", sa.String(length=32), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("touchpoint", sa.String(length=32), nullable=False),
        sa.Column("emotion", sa.String(length=32), nullable=False),
        sa.Column("segment", sa.String(length=64), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _SUMS),
        sa.PrimaryKeyConstraint(*_KEY, name=op.f("pk_answer_rollup_weeks")),
    )
    op.create_table(
        "rollup_weeks",
        sa.Column("survey_id", sa.String(length=32), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("built_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("survey_id", "week", name=op.f("pk_rollup_weeks")),
    )


def downgrade() -> None:
    op.drop_table("rollup_weeks")
    op.drop_table("answer_rollup_weeks")
