"""link_tokens.relink, staff_mentions

- link_tokens.relink: a link the staff made to move a linked customer to another account.
- staff_mentions: the staff-chat messages that show a customer's reference or words
  (reply prompts, delivery notices, relayed messages), so /forget can edit them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("link_tokens") as batch:
        batch.add_column(
            sa.Column("relink", sa.Boolean(), server_default=sa.false(), nullable=False)
        )

    op.create_table(
        "staff_mentions",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column(
            "alert_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_staff_mentions_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("chat_id", "message_id", name=op.f("pk_staff_mentions")),
    )
    op.create_index(
        op.f("ix_staff_mentions_alert_id"), "staff_mentions", ["alert_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_staff_mentions_alert_id"), table_name="staff_mentions")
    op.drop_table("staff_mentions")
    with op.batch_alter_table("link_tokens") as batch:
        batch.drop_column("relink")
