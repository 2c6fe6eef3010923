"""The page's early-bird tiers and stretch goals (from CampaignPublished), the goals reached
(CampaignStretchGoalReached) and the highest buyer number confirmed (the price shown is the
next buyer's).

Revision ID: 0002_tiers_terms
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0002_tiers_terms"
down_revision = "0001_init"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for column in ("price_tiers", "stretch_goals"):
        op.add_column(
            "campaign_pages", sa.Column(column, JSONB(), nullable=False, server_default="[]")
        )
    op.add_column(
        "campaign_pages",
        sa.Column(
            "stretch_goals_reached", ARRAY(sa.Integer()), nullable=False, server_default="{}"
        ),
    )
    op.add_column(
        "campaign_pages",
        sa.Column("highest_buyer_number", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    for column in ("highest_buyer_number", "stretch_goals_reached", "stretch_goals", "price_tiers"):
        op.drop_column("campaign_pages", column)
