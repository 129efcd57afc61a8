"""funnel rollups: where customers drop out, per day of waves sent, once they are settled

- funnel_wave_rollups: a day's waves per wave, status, question on screen, opened and
  send recorded (storage.funnel);
- funnel_answer_rollups: their answers per question;
- funnel_days: which days those hold (built_at), or were seen with open waves (NULL).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _day_key() -> list[sa.Column[str]]:
    return [
        sa.Column("survey_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("segment", sa.String(length=64), nullable=False),
        sa.Column("wave_id", sa.String(length=32), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "funnel_wave_rollups",
        *_day_key(),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("current_question", sa.String(length=32), nullable=False),
        sa.Column("opened", sa.Boolean(), nullable=False),
        sa.Column("recorded", sa.Boolean(), nullable=False),
        sa.Column("waves", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "survey_id", "day", "segment", "wave_id", "status", "current_question",
            "opened", "recorded", name=op.f("pk_funnel_wave_rollups"),
        ),
    )  # fmt: skip
    op.create_table(
        "funnel_answer_rollups",
        *_day_key(),
        sa.Column("question_id", sa.String(length=32), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "survey_id", "day", "segment", "wave_id", "question_id",
            name=op.f("pk_funnel_answer_rollups"),
        ),
    )  # fmt: skip
    op.create_table(
        "funnel_days",
        sa.Column("survey_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("built_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("survey_id", "day", name=op.f("pk_funnel_days")),
    )


def downgrade() -> None:
    op.drop_table("funnel_days")
    op.drop_table("funnel_answer_rollups")
    op.drop_table("funnel_wave_rollups")
