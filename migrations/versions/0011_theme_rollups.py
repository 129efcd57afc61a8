"""theme rollups: the customers per theme of each closed day, built from the stored
comment readings (reports.theme_rollup)

- theme_rollups: per day, segment, stage, touchpoint, role and theme, the journeys whose
  comments in the stage are all on that day (and segment), and the day's quote
  candidates;
- theme_spread: the few journeys whose comments in a stage span days, listed per day so
  that a period counts each once;
- theme_days: which days those hold, for which themes (`version`), stale when NULL.

Nothing is built here: the scheduler's next refresh builds each closed day whose
comments are all read.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = ("survey_id", "day", "segment", "stage", "touchpoint", "role", "theme")


def _key() -> list[sa.Column[str]]:
    return [
        sa.Column("survey_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("segment", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("touchpoint", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("theme", sa.String(length=32), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "theme_rollups",
        *_key(),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("quotes", sa.Text(), nullable=False),
        sa.Column("others", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint(*_KEY, name=op.f("pk_theme_rollups")),
    )
    op.create_table(
        "theme_spread",
        *_key(),
        sa.Column("order_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint(*_KEY, "order_id", name=op.f("pk_theme_spread")),
    )
    op.create_table(
        "theme_days",
        sa.Column("survey_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("version", sa.String(length=16), nullable=False),
        sa.Column("built_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("survey_id", "day", name=op.f("pk_theme_days")),
    )


def downgrade() -> None:
    op.drop_table("theme_days")
    op.drop_table("theme_spread")
    op.drop_table("theme_rollups")
