"""Initial schema: outbox/inbox plumbing and the deliveries table.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from dropwave_runtime.migrations import create_plumbing, drop_plumbing

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_plumbing(op)
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("source_event_id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("recipient_kind", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("template", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "source_event_id",
            "recipient_kind",
            "channel",
            name="uq_deliveries_source_event_recipient_channel",
        ),
        sa.CheckConstraint(
            "recipient_kind IN ('buyer', 'creator')", name="ck_deliveries_recipient"
        ),
        sa.CheckConstraint("channel IN ('email', 'sms')", name="ck_deliveries_channel"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name="ck_deliveries_status"),
    )
    op.create_index("ix_deliveries_campaign_id", "deliveries", ["campaign_id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_campaign_id", table_name="deliveries")
    op.drop_table("deliveries")
    drop_plumbing(op)
