"""weekly rollup of all segments: each ISO week's sums per report cell, segments summed

- answer_rollup_weeks_all: per (survey, Monday, stage, touchpoint, emotion) the sums of
  the week's `answer_rollup_weeks` rows over their segments. A report of every segment
  reads its whole weeks from here: a third of the rows to group, and SQLite's sort of
  them was most of what reading the map's figures cost (~7 of ~9 ms over eleven weeks at
  1M answers).

The weeks built so far have no such rows: they are unbuilt here, and the scheduler's
next refresh builds every level of every week whose seven days are built
(reports.week_rollup) — from the daily rows, so it costs seconds, not a rebuild.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = ("survey_id", "week", "stage", "touchpoint", "emotion")
_SUMS = (
    "rows", "answers", "ratings", "rating_sum", "rating_squares", "satisfied",
    "nps_answers", "promoters", "detractors", "valence_answers", "valence_sum", "comments",
)  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "answer_rollup_weeks_all",
        sa.Column("survey_id", sa.String(length=32), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("touchpoint", sa.String(length=32), nullable=False),
        sa.Column("emotion", sa.String(length=32), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _SUMS),
        sa.PrimaryKeyConstraint(*_KEY, name=op.f("pk_answer_rollup_weeks_all")),
    )
    op.execute("DELETE FROM answer_rollup_weeks")
    op.execute("DELETE FROM customer_rollup_weeks")
    op.execute("DELETE FROM rollup_weeks")


def downgrade() -> None:
    op.drop_table("answer_rollup_weeks_all")
