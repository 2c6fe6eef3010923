"""Drop orders' index on campaign_id alone: both unique constraints, (campaign_id,
buyer_number) and (campaign_id, idempotency_key), lead with it and serve every query by
campaign. While it existed, PostgreSQL chose it for the intake's idempotency lookup whenever
its statistics still saw a campaign as small, and then read the whole campaign's orders for
each batch (ADR 0001, fourth round). One index less to write per order, too.

Revision ID: 0008_no_campaign_index
"""

from alembic import op

revision = "0008_no_campaign_index"
down_revision = "0007_ship_fulfilment"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_orders_campaign_id", "orders")


def downgrade() -> None:
    op.create_index("ix_orders_campaign_id", "orders", ["campaign_id"])
