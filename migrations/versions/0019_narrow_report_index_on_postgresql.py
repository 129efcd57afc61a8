"""PostgreSQL: the answers' report index without 0017's journey columns

0017 appended `order_id` and `question_id` to ix_answers_report so that SQLite reads the
journeys' answers from the index alone. On PostgreSQL that undid the B-tree's
deduplication (order_id makes nearly every key distinct): 18 → 93 MB at 1M answers, and
no report read faster beyond the noise — a heap lookup costs little there, and the open
day's live cells walk the five-fold index (4–6 → 5–9 ms). So on PostgreSQL the index gets
its eleven pre-0017 columns back; SQLite keeps the covering form (storage.models: one
`Index` per dialect). Figures: bench/README.md, "2026-12-07, later".

ix_answers_order_stage (with question_id) and ix_answers_nps stay alike on both: at 1M
answers without question_id PostgreSQL reads the NPS journeys' ratings by a sequential
scan (15 → 190 ms; 47 → 42 MB), and a narrower ix_answers_nps is read with heap lookups
(2.2 → 3.7–8.5 ms; it is 9 MB).

The index is rebuilt in the migration's transaction: writes to `answers` wait for the
build (seconds at 1M answers). SQLite: nothing to do.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of storage.models' keys (a migration never imports the models).
NARROW = [
    "survey_id", "day", "stage", "touchpoint", "emotion",
    "segment", "kind", "skipped", "rating", "nps", "valence",
]  # fmt: skip
COVERING = [*NARROW, "order_id", "question_id"]


def _report_index(columns: list[str]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_answers_report", table_name="answers")
    op.create_index("ix_answers_report", "answers", columns, unique=False)


def upgrade() -> None:
    _report_index(NARROW)


def downgrade() -> None:
    _report_index(COVERING)
