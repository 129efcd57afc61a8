"""customer-level rollups: the map's verdicts count customers, not answers

- customer_rollups: one day's customer-level sums per segment, stage and touchpoint
  (reports.customers), so the tests and intervals of a report over closed days read a
  few hundred rows.
- driver_rollups dropped: the Pearson "key stages" gave way to priorities from the
  journeys themselves (reports.priorities).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTS = ("customers", "r_n", "s_n", "p_n", "v_n", "d_n")
_SUMS = ("r_sum", "r_sq", "s_sum", "s_sq", "p_sum", "p_sq", "v_sum", "v_sq", "d_sum", "d_sq")


def upgrade() -> None:
    columns = [sa.Column(name, sa.Integer(), nullable=False) for name in _COUNTS]
    columns += [sa.Column(name, sa.Float(), nullable=False) for name in _SUMS]
    op.create_table(
        "customer_rollups",
        sa.Column("survey_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("segment", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("touchpoint", sa.String(length=32), nullable=False),
        *columns,
        sa.PrimaryKeyConstraint(
            "survey_id",
            "day",
            "segment",
            "stage",
            "touchpoint",
            name=op.f("pk_customer_rollups"),
        ),
    )
    op.drop_table("driver_rollups")
    # Days rolled up before this table existed have no customer sums: rebuild them.
    op.execute("UPDATE rollup_days SET built_at = NULL")


def downgrade() -> None:
    op.drop_table("customer_rollups")
    op.create_table(
        "driver_rollups",
        sa.Column("survey_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("segment", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in ("n",)),
        *(
            sa.Column(name, sa.Float(), nullable=False)
            for name in ("sx", "sy", "sxx", "syy", "sxy")
        ),
        sa.PrimaryKeyConstraint(
            "survey_id", "day", "segment", "stage", name=op.f("pk_driver_rollups")
        ),
    )
    # Their sums are not rebuilt by downgrading: rebuild the days.
    op.execute("UPDATE rollup_days SET built_at = NULL")
