"""team_languages: each staff member's and owner's language, kept across restarts

The language of their last update (Telegram's language_code), or the one they chose with
/language (chosen: Telegram's no longer changes it). Alerts and weekly reports go out in
it, also after a restart and before they write again.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "team_languages",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("chosen", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_team_languages")),
    )


def downgrade() -> None:
    op.drop_table("team_languages")
