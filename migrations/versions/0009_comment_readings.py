"""comment_readings: each comment's themes, tone and content words, read once;
customer_rollups.low: the unhappy customers per day and cell

Reports used to match every comment of a period against the survey's themes on every
report (5 s at 1M answers). A comment is now read once and its reading kept; `version`
names the themes and the reader it was made with, so a changed survey reads again.
The customers who answered a cell low are rolled up per day too (theme shares are of
them); every built day is marked stale, so the scheduler rebuilds it with the new column
and reports read it from the answers until then. Choice answers get a partial index (the
top answers of "why us?" per period).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "comment_readings",
        sa.Column(
            "answer_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("version", sa.String(length=16), nullable=False),
        sa.Column("themes", sa.Text(), nullable=False),
        sa.Column("denied", sa.Text(), nullable=False),
        sa.Column("said", sa.String(length=16), nullable=True),
        sa.Column("says_nothing", sa.Boolean(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["answer_id"],
            ["answers.id"],
            name=op.f("fk_comment_readings_answer_id_answers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("answer_id", name=op.f("pk_comment_readings")),
    )

    with op.batch_alter_table("customer_rollups") as batch:
        batch.add_column(
            sa.Column("low", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
    op.execute("UPDATE rollup_days SET built_at = NULL")
    op.create_index(
        "ix_answers_choices",
        "answers",
        ["survey_id", "day", "question_id", "choice", "segment"],
        unique=False,
        sqlite_where=sa.text("choice IS NOT NULL"),
        postgresql_where=sa.text("choice IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_answers_choices", table_name="answers")
    with op.batch_alter_table("customer_rollups") as batch:
        batch.drop_column("low")
    op.drop_table("comment_readings")
