"""Shipping: the countries a campaign ships its physical goods to (empty: a digital drop).

Revision ID: 0012_ship_countries
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0012_ship_countries"
down_revision = "0011_stats_creator_settings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "campaigns",
        sa.Column("ship_to_countries", JSONB, nullable=False, server_default=sa.text("'[]'")),
    )


def downgrade() -> None:
    op.drop_column("campaigns", "ship_to_countries")
