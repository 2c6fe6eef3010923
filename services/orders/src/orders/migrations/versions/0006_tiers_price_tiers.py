"""The campaign's early-bird tiers on orders' snapshot (from CampaignPublished): each order
is priced by its buyer number when the number is assigned.

Revision ID: 0006_tiers_price_tiers
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006_tiers_price_tiers"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "campaigns", sa.Column("price_tiers", JSONB(), nullable=False, server_default="[]")
    )


def downgrade() -> None:
    op.drop_column("campaigns", "price_tiers")
