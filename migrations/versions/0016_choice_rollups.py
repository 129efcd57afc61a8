"""choice rollups: each closed day's answers per option of a choice question

- choice_rollups: per (survey, day, question, option, segment) the answers that chose it,
  built with the day's other rollups (reports.rollups); the days built so far are
  counted here.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "choice_rollups",
        sa.Column("survey_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("question_id", sa.String(length=32), nullable=False),
        sa.Column("choice", sa.String(length=32), nullable=False),
        sa.Column("segment", sa.String(length=64), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "survey_id", "day", "question_id", "choice", "segment", name=op.f("pk_choice_rollups")
        ),
    )
    # The days built so far get their choices here, as reports.rollups.build_day counts
    # them: one GROUP BY over those days' choice answers, not a rebuild of every rollup.
    op.execute(
        """
        INSERT INTO choice_rollups (survey_id, day, question_id, choice, segment, answers)
        SELECT a.survey_id, a.day, a.question_id, a.choice, COALESCE(a.segment, ''), COUNT(*)
        FROM answers a
        JOIN rollup_days r ON r.survey_id = a.survey_id AND r.day = a.day
        WHERE a.choice IS NOT NULL AND r.built_at IS NOT NULL
        GROUP BY a.survey_id, a.day, a.question_id, a.choice, COALESCE(a.segment, '')
        """
    )


def downgrade() -> None:
    op.drop_table("choice_rollups")
