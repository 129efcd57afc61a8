"""daily answer rollups, alerts with their replies, weekly report deliveries

- answer_rollups / rollup_days: one day's sums per report cell, so a report over
  closed days reads a few thousand rows instead of scanning every answer.
- alerts, alert_messages, alert_replies, reply_drafts: closing the loop with an
  unhappy customer (SPEC §4), the exchange stored.
- report_deliveries: the weekly report claimed per owner and week, sent once.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "answer_rollups",
        sa.Column("survey_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("touchpoint", sa.String(length=32), nullable=False),
        sa.Column("emotion", sa.String(length=32), nullable=False),
        sa.Column("segment", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("ratings", sa.Integer(), nullable=False),
        sa.Column("rating_sum", sa.Integer(), nullable=False),
        sa.Column("rating_squares", sa.Integer(), nullable=False),
        sa.Column("satisfied", sa.Integer(), nullable=False),
        sa.Column("nps_answers", sa.Integer(), nullable=False),
        sa.Column("promoters", sa.Integer(), nullable=False),
        sa.Column("detractors", sa.Integer(), nullable=False),
        sa.Column("valence_answers", sa.Integer(), nullable=False),
        sa.Column("valence_sum", sa.Integer(), nullable=False),
        sa.Column("comments", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "survey_id",
            "day",
            "stage",
            "touchpoint",
            "emotion",
            "segment",
            name=op.f("pk_answer_rollups"),
        ),
    )
    op.create_table(
        "driver_rollups",
        sa.Column("survey_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("segment", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("sx", sa.Float(), nullable=False),
        sa.Column("sy", sa.Float(), nullable=False),
        sa.Column("sxx", sa.Float(), nullable=False),
        sa.Column("syy", sa.Float(), nullable=False),
        sa.Column("sxy", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "survey_id", "day", "segment", "stage", name=op.f("pk_driver_rollups")
        ),
    )
    with op.batch_alter_table("link_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_link_tokens_order_id", ["order_id"], unique=False)
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_answers_order_stage", ["order_id", "stage", "rating"], unique=False
        )
        batch_op.create_index(
            "ix_answers_comments",
            ["survey_id", "stage", "answered_at"],
            unique=False,
            sqlite_where=sa.text("comment IS NOT NULL"),
            postgresql_where=sa.text("comment IS NOT NULL"),
        )
    op.create_table(
        "report_deliveries",
        sa.Column("owner_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("claimed_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("parts", sa.SmallInteger(), nullable=False),
        sa.Column("retry_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("locale", sa.String(length=8), nullable=True),
        sa.PrimaryKeyConstraint("owner_id", "week", name=op.f("pk_report_deliveries")),
    )
    op.create_table(
        "rollup_days",
        sa.Column("survey_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("built_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("last_answer_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("survey_id", "day", name=op.f("pk_rollup_days")),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "dispatch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("survey_id", sa.String(length=32), nullable=False),
        sa.Column("segment", sa.String(length=64), nullable=True),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("replied_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("replied_by", sa.BigInteger(), nullable=True),
        sa.Column("replied_by_name", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_alerts_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["dispatch_id"],
            ["dispatches.id"],
            name=op.f("fk_alerts_dispatch_id_dispatches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("dispatch_id", name=op.f("uq_alerts_dispatch_id")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(
            "ix_alerts_survey_created", ["survey_id", "created_at"], unique=False
        )

    op.create_table(
        "alert_messages",
        sa.Column(
            "alert_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_messages_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("alert_id", "chat_id", name=op.f("pk_alert_messages")),
    )
    op.create_table(
        "alert_replies",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "alert_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("author_id", sa.BigInteger(), nullable=True),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_replies_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_replies")),
    )
    with op.batch_alter_table("alert_replies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_replies_alert_id"), ["alert_id"], unique=False)

    op.create_table(
        "reply_drafts",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column(
            "alert_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("started_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_reply_drafts_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_reply_drafts")),
    )


def downgrade() -> None:
    op.drop_table("reply_drafts")
    with op.batch_alter_table("alert_replies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_replies_alert_id"))

    op.drop_table("alert_replies")
    op.drop_table("alert_messages")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_survey_created")
        batch_op.drop_index(batch_op.f("ix_alerts_customer_id"))

    op.drop_table("alerts")
    op.drop_table("rollup_days")
    with op.batch_alter_table("link_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_link_tokens_order_id")
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.drop_index("ix_answers_comments")
        batch_op.drop_index("ix_answers_order_stage")
    op.drop_table("driver_rollups")
    op.drop_table("report_deliveries")
    op.drop_table("answer_rollups")
