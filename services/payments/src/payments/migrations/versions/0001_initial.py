"""Plumbing (outbox, inbox) and the payments table.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from dropwave_runtime.migrations import create_plumbing, drop_plumbing

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_plumbing(op)
    op.create_table(
        "payments",
        sa.Column("order_id", sa.Uuid(), primary_key=True),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("payment_intent_id", sa.String(255), nullable=True, unique=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("failure_code", sa.String(255), nullable=True),
        sa.Column("decline_code", sa.String(255), nullable=True),
        sa.Column("correlation_id", sa.String(128), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index("ix_payments_campaign_id", "payments", ["campaign_id"])


def downgrade() -> None:
    op.drop_index("ix_payments_campaign_id", table_name="payments")
    op.drop_table("payments")
    drop_plumbing(op)
