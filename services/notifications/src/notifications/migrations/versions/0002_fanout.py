"""The deliveries table becomes a durable work queue; read models of buyers and campaigns;
opt-outs.

Revision ID: 0002_fanout
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002_fanout"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add = op.add_column
    add("deliveries", sa.Column("recipient_ref", sa.String(255), server_default="", nullable=False))
    add("deliveries", sa.Column("order_id", sa.Uuid(), nullable=True))
    add(
        "deliveries",
        sa.Column("context", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
    )
    add(
        "deliveries",
        sa.Column("correlation_id", sa.String(128), server_default="", nullable=False),
    )
    add(
        "deliveries",
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
    )
    add("deliveries", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    add("deliveries", sa.Column("claimed_by", sa.Uuid(), nullable=True))
    add("deliveries", sa.Column("provider_message_id", sa.String(128), nullable=True))
    add("deliveries", sa.Column("provider_status", sa.String(32), nullable=True))
    op.drop_constraint("uq_deliveries_source_event_recipient_channel", "deliveries")
    op.create_unique_constraint(
        "uq_deliveries_event_recipient_channel",
        "deliveries",
        ["source_event_id", "recipient_kind", "recipient_ref", "channel"],
    )
    op.drop_constraint("ck_deliveries_status", "deliveries")
    op.create_check_constraint(
        "ck_deliveries_status", "deliveries", "status IN ('pending', 'sent', 'failed', 'skipped')"
    )
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_deliveries_provider_message_id", "deliveries", ["provider_message_id"])

    op.create_table(
        "buyers",
        sa.Column("order_id", sa.Uuid(), primary_key=True),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("buyer_number", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("sms_consent", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled", sa.Boolean(), server_default="false", nullable=False),
    )
    op.create_index("ix_buyers_campaign_id", "buyers", ["campaign_id"])
    op.create_table(
        "campaigns",
        sa.Column("campaign_id", sa.Uuid(), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("creator_id", sa.String(255), nullable=True),
        sa.Column("creator_email", sa.String(320), nullable=True),
        sa.Column("min_orders", sa.Integer(), nullable=True),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("price_cents", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("tipped_event_id", sa.Uuid(), nullable=True),
        sa.Column("tipped_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "opt_outs",
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("address_sha256", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )


def downgrade() -> None:
    op.drop_table("opt_outs")
    op.drop_table("campaigns")
    op.drop_index("ix_buyers_campaign_id", table_name="buyers")
    op.drop_table("buyers")
    op.drop_index("ix_deliveries_provider_message_id", table_name="deliveries")
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.execute("DELETE FROM deliveries WHERE status = 'skipped'")
    op.drop_constraint("ck_deliveries_status", "deliveries")
    op.create_check_constraint(
        "ck_deliveries_status", "deliveries", "status IN ('pending', 'sent', 'failed')"
    )
    op.drop_constraint("uq_deliveries_event_recipient_channel", "deliveries")
    op.execute(
        "DELETE FROM deliveries d USING deliveries e WHERE d.source_event_id = e.source_event_id"
        " AND d.recipient_kind = e.recipient_kind AND d.channel = e.channel AND d.id > e.id"
    )
    op.create_unique_constraint(
        "uq_deliveries_source_event_recipient_channel",
        "deliveries",
        ["source_event_id", "recipient_kind", "channel"],
    )
    for column in (
        "provider_status",
        "provider_message_id",
        "claimed_by",
        "lease_until",
        "next_attempt_at",
        "correlation_id",
        "context",
        "order_id",
        "recipient_ref",
    ):
        op.drop_column("deliveries", column)
