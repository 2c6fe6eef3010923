"""Fulfilment: shipping addresses, SMS consent, campaigns' ship-to countries and closing
time, and the erasure of buyers' personal data after retention.

Revision ID: 0007_ship_fulfilment
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007_ship_fulfilment"
down_revision = "0006_tiers_price_tiers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "campaigns",
        sa.Column("ship_to_countries", JSONB, nullable=False, server_default=sa.text("'[]'")),
    )
    op.add_column("campaigns", sa.Column("closed_at", sa.DateTime(timezone=True)))
    op.add_column("campaigns", sa.Column("pii_erased_at", sa.DateTime(timezone=True)))
    # Campaigns closed before this: their closing time as best known.
    op.execute(
        "UPDATE campaigns SET closed_at = coalesce(tallied_at, intake_closed_at, deadline)"
        " WHERE status IN ('successful', 'failed', 'cancelled')"
    )
    op.create_index(
        "ix_campaigns_closed_unerased",
        "campaigns",
        ["closed_at"],
        postgresql_where=sa.text("closed_at IS NOT NULL AND pii_erased_at IS NULL"),
    )
    op.alter_column("orders", "buyer_email", nullable=True)
    # Null: placed before consent was kept (unknown); new orders state it.
    op.add_column("orders", sa.Column("sms_consent", sa.Boolean()))
    op.add_column("orders", sa.Column("shipping_address", JSONB))
    op.add_column("orders", sa.Column("pii_erased_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("orders", "pii_erased_at")
    op.drop_column("orders", "shipping_address")
    op.drop_column("orders", "sms_consent")
    op.execute("UPDATE orders SET buyer_email = '' WHERE buyer_email IS NULL")
    op.alter_column("orders", "buyer_email", nullable=False)
    op.drop_index("ix_campaigns_closed_unerased", table_name="campaigns")
    op.drop_column("campaigns", "pii_erased_at")
    op.drop_column("campaigns", "closed_at")
    op.drop_column("campaigns", "ship_to_countries")
