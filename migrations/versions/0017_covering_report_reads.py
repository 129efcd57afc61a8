"""covering report reads: order_id and question_id in the answers' report index

- ix_answers_report gets `order_id` and `question_id` after its eleven columns: the
  report's reads of a day's scored answers per journey (reports.customers) and of the
  newest NPS answers' journeys (reports.priorities) are answered from the index alone,
  with no table lookup per answer (14–20 → 8 ms of SQLite at 1M answers).
- ix_answers_order_stage gets `question_id` after its three: the NPS journeys' ratings
  are read by journey with their question, again without a table lookup.

SQLite's planner weighs an index without statistics by default guesses, and a covering
index then looks cheaper than it is: on a database whose other indexes have statistics
(sqlite_stat1) the rebuilt index would have none, and the unread-comments scan left
`ix_answers_comments` for it (a report took 1.1 s). So on SQLite the table is analysed
again here whenever it was analysed before; a database without statistics stays without
them (storage.statistics keeps them from the next start or nightly refresh on).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of storage.models' keys (a migration never imports the models).
REPORT_BEFORE = [
    "survey_id", "day", "stage", "touchpoint", "emotion",
    "segment", "kind", "skipped", "rating", "nps", "valence",
]  # fmt: skip
REPORT_AFTER = [*REPORT_BEFORE, "order_id", "question_id"]
ORDER_STAGE_BEFORE = ["order_id", "stage", "rating"]
ORDER_STAGE_AFTER = [*ORDER_STAGE_BEFORE, "question_id"]


def _indexes(report: list[str], order_stage: list[str]) -> None:
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.drop_index("ix_answers_report")
        batch_op.drop_index("ix_answers_order_stage")
        batch_op.create_index("ix_answers_report", report, unique=False)
        batch_op.create_index("ix_answers_order_stage", order_stage, unique=False)
    _analyse_again()


def _analyse_again() -> None:
    """SQLite: ANALYZE answers when it had statistics (DROP INDEX dropped the indexes')."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return  # PostgreSQL keeps per-column statistics, not per-index ones
    if bind.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first():
        analysed = text("SELECT 1 FROM sqlite_stat1 WHERE tbl = 'answers' LIMIT 1")
        if bind.execute(analysed).first():
            op.execute("ANALYZE answers")


def upgrade() -> None:
    _indexes(REPORT_AFTER, ORDER_STAGE_AFTER)


def downgrade() -> None:
    _indexes(REPORT_BEFORE, ORDER_STAGE_BEFORE)
