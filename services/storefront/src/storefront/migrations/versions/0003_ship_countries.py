"""Shipping: the countries the campaign ships to (from CampaignPublished): the checkout asks
for an address in one of them (empty: a digital drop, no address).

Revision ID: 0003_ship_countries
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003_ship_countries"
down_revision = "0002_tiers_terms"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "campaign_pages",
        sa.Column("ship_to_countries", JSONB(), nullable=False, server_default="[]"),
    )


def downgrade() -> None:
    op.drop_column("campaign_pages", "ship_to_countries")
