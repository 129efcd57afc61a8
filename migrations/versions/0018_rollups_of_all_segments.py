"""rollups of all segments, and an index of the NPS answers


- answer_rollups_all: per (survey, day, stage, touchpoint, emotion) the sums of the
  day's `answer_rollups` rows over their segments;
- answer_rollup_weeks_all: the same per ISO week (Monday), of `answer_rollup_weeks`.

A report of every segment reads its days and weeks from these: a third of the rows to
group, and SQLite's sort of them was most of what reading the map's figures cost (~7 of
~9 ms over eleven weeks at 1M answers).

- ix_answers_nps: the report index's columns, of the NPS answers only. The priorities'
  newest NPS answers (ORDER BY day DESC LIMIT 5,000) walk it instead of every answer of
  their days on the report index (6.8 → 2.3 ms at 1M); its order is the report index's,
  so the same answers come, in the same order. On SQLite the table is analysed again
  when it was analysed before (as 0017 does): an index without statistics next to ones
  with them misleads the planner.

The days built so far get their rows here, summed from `answer_rollups` (integers: the
same sums a rebuild would give). The weeks built so far are unbuilt, and the
scheduler's next refresh builds every level of every week whose seven days are built
(reports.week_rollup) — from the daily rows, so it costs seconds, not a rebuild.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import text

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CELL = ("stage", "touchpoint", "emotion")
# A frozen copy of storage.models' report index columns on SQLite (REPORT_KEY +
# JOURNEY_KEY; a migration never imports the models).
_REPORT = [
    "survey_id", "day", "stage", "touchpoint", "emotion", "segment", "kind", "skipped",
    "rating", "nps", "valence", "order_id", "question_id",
]  # fmt: skip
_SUMS = (
    "rows", "answers", "ratings", "rating_sum", "rating_squares", "satisfied",
    "nps_answers", "promoters", "detractors", "valence_answers", "valence_sum", "comments",
)  # fmt: skip


def _create(table: str, when: str) -> None:
    op.create_table(
        table,
        sa.Column("survey_id", sa.String(length=32), nullable=False),
        sa.Column(when, sa.Date(), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("touchpoint", sa.String(length=32), nullable=False),
        sa.Column("emotion", sa.String(length=32), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _SUMS),
        sa.PrimaryKeyConstraint("survey_id", when, *_CELL, name=op.f(f"pk_{table}")),
    )


def upgrade() -> None:
    _create("answer_rollups_all", "day")
    _create("answer_rollup_weeks_all", "week")
    key = ", ".join(("survey_id", "day", *_CELL))
    sums = ", ".join(f"sum({name})" for name in _SUMS)
    op.execute(
        f"INSERT INTO answer_rollups_all ({key}, {', '.join(_SUMS)}) "
        f"SELECT {key}, {sums} FROM answer_rollups GROUP BY {key}"
    )
    op.execute("DELETE FROM answer_rollup_weeks")
    op.execute("DELETE FROM customer_rollup_weeks")
    op.execute("DELETE FROM rollup_weeks")
    nps = text("nps IS NOT NULL")
    op.create_index("ix_answers_nps", "answers", _REPORT, sqlite_where=nps, postgresql_where=nps)
    _analyse_again()


def _analyse_again() -> None:
    """SQLite: ANALYZE answers when it had statistics (the new index has none)."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return  # PostgreSQL keeps per-column statistics, not per-index ones
    if bind.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first():
        analysed = text("SELECT 1 FROM sqlite_stat1 WHERE tbl = 'answers' LIMIT 1")
        if bind.execute(analysed).first():
            op.execute("ANALYZE answers")


def downgrade() -> None:
    op.drop_index("ix_answers_nps", table_name="answers")
    op.drop_table("answer_rollup_weeks_all")
    op.drop_table("answer_rollups_all")
