"""Refunds reach the order: ``orders.refunded_cents`` (what payments refunded so far) and
``order_refunds``, one row per Stripe refund, so each ``PaymentRefunded`` counts once even if
the same refund came again under another event id.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "orders",
        sa.Column("refunded_cents", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "order_refunds",
        sa.Column("refund_id", sa.String(255), primary_key=True),
        sa.Column("order_id", sa.Uuid, nullable=False, index=True),
        sa.Column("amount_cents", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("order_refunds")
    op.drop_column("orders", "refunded_cents")
