"""Initial schema: plumbing (outbox, inbox), campaign snapshots, orders.

Revision ID: 0001
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
        "campaigns",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("slug", sa.String(120), nullable=False, unique=True),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("price_cents", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("min_orders", sa.Integer, nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("last_buyer_number", sa.Integer, nullable=False),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("campaign_id", sa.Uuid, nullable=False, index=True),
        sa.Column("buyer_number", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("amount_cents", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("buyer_email", sa.String(320), nullable=False),
        sa.Column("buyer_phone", sa.String(20)),
        sa.Column("payment_method_id", sa.String(255)),
        sa.Column("referral_code", sa.String(64)),
        sa.Column("source", sa.String(64)),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("request_fingerprint", sa.String(64), nullable=False),
        sa.Column("payment_intent_id", sa.String(255)),
        sa.Column("client_secret", sa.String(255)),
        sa.Column("failure_code", sa.String(100)),
        sa.Column("decline_code", sa.String(100)),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.UniqueConstraint("campaign_id", "buyer_number"),
        sa.UniqueConstraint("campaign_id", "idempotency_key"),
    )


def downgrade() -> None:
    op.drop_table("orders")
    op.drop_table("campaigns")
    drop_plumbing(op)
