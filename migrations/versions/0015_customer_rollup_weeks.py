"""customer rollup weeks: each ISO week's customer-level sums, summed from its built days

- customer_rollup_weeks: per (survey, Monday, segment, stage, touchpoint) the sums of
  `customer_rollups` over the week's seven days, built with the week's answer sums.

The weeks built so far have no customer sums: they are unbuilt here, and the scheduler's
next refresh builds both levels of every week whose seven days are built
(reports.week_rollup) — from the daily rows, so it costs seconds, not a rebuild.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = ("survey_id", "week", "segment", "stage", "touchpoint")
_COUNTS = ("customers", "r_n", "s_n", "p_n", "v_n", "d_n", "low")
_SUMS = ("r_sum", "r_sq", "s_sum", "s_sq", "p_sum", "p_sq", "v_sum", "v_sq", "d_sum", "d_sq")


def upgrade() -> None:
    op.create_table(
        "customer_rollup_weeks",
        sa.Column("survey_id", sa.String(length=32), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("segment", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("touchpoint", sa.String(length=32), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _COUNTS),
        *(sa.Column(name, sa.Float(), nullable=False) for name in _SUMS),
        sa.PrimaryKeyConstraint(*_KEY, name=op.f("pk_customer_rollup_weeks")),
    )
    op.execute("DELETE FROM answer_rollup_weeks")
    op.execute("DELETE FROM rollup_weeks")


def downgrade() -> None:
    op.drop_table("customer_rollup_weeks")
