"""relative score across a journey's days: rebuild the customer rollups

A stage asked alone on a day (a wave of its own) now gets a relative score against the
customer's ratings of the other stages on the journey's earlier days
(reports.customers). The closed days' `customer_rollups` were built without it: every
built day is marked stale, so the scheduler's next refresh rebuilds them (reports read
a stale day from the answers until then, so no figure is wrong in between).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("UPDATE rollup_days SET built_at = NULL")


def downgrade() -> None:
    # The older code builds the days without the cross-day comparison: rebuild them too.
    op.execute("UPDATE rollup_days SET built_at = NULL")
