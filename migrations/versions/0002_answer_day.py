"""answers.day and the report indexes

Reports cover whole UTC days. `answers.day` is answered_at's date in UTC, stored so that
the aggregate can filter and GROUP BY it on an index (a computed date(answered_at) would
make SQLite sort every answer in a temporary B-tree).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of storage.models.REPORT_KEY: a migration never imports the models.
REPORT_COLUMNS = [
    "survey_id", "day", "stage", "touchpoint", "emotion",
    "segment", "kind", "skipped", "rating", "nps", "valence",
]  # fmt: skip

# answered_at is naive UTC text on SQLite and timestamptz on PostgreSQL.
BACKFILL = {
    "sqlite": "UPDATE answers SET day = date(answered_at)",
    "postgresql": "UPDATE answers SET day = (answered_at AT TIME ZONE 'UTC')::date",
}


def upgrade() -> None:
    # Nullable first, backfilled, then NOT NULL: existing rows get their day too.
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("day", sa.Date(), nullable=True))
    op.execute(BACKFILL[op.get_bind().dialect.name])
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.alter_column("day", existing_type=sa.Date(), nullable=False)
        batch_op.create_index("ix_answers_report", REPORT_COLUMNS, unique=False)

    with op.batch_alter_table("dispatches", schema=None) as batch_op:
        batch_op.create_index("ix_dispatches_survey_sent", ["survey_id", "sent_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dispatches", schema=None) as batch_op:
        batch_op.drop_index("ix_dispatches_survey_sent")

    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.drop_index("ix_answers_report")
        batch_op.drop_column("day")
