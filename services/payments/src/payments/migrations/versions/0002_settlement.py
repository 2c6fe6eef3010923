"""Settlement: the durable capture/release queue, per-campaign runs and the shared rate limiter.

Revision ID: 0002_settlement
Revises: 0001
Create Date: 2025-01-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from dropwave_runtime.migrations import create_rate_limits_table, drop_rate_limits_table

revision: str = "0002_settlement"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "settlements",
        sa.Column("campaign_id", sa.Uuid(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("causation_id", sa.String(128), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("succeeded", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("gross_cents", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("fee_cents", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("net_cents", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column(
            "started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "settlement_items",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        sa.Column("last_error", sa.String(255), nullable=True),
        sa.Column("amount_cents", sa.Integer(), nullable=True),
        sa.Column("fee_cents", sa.Integer(), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("order_id", "kind"),
    )
    op.create_index("ix_settlement_items_campaign_id", "settlement_items", ["campaign_id"])
    # The worker's claim: due queued items, oldest first.
    op.create_index(
        "ix_settlement_items_due",
        "settlement_items",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'queued'"),
    )
    create_rate_limits_table(op)


def downgrade() -> None:
    drop_rate_limits_table(op)
    op.drop_index("ix_settlement_items_due", table_name="settlement_items")
    op.drop_index("ix_settlement_items_campaign_id", table_name="settlement_items")
    op.drop_table("settlement_items")
    op.drop_table("settlements")
