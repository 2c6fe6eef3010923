"""Early-bird price tiers and stretch goals (rules, frozen once published), the goals
reached so far and the highest buyer number confirmed (the public view's current price).

Revision ID: 0009_tiers_campaign_rules
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0009_tiers_campaign_rules"
down_revision = "0008_rate_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "campaigns", sa.Column("price_tiers", JSONB(), nullable=False, server_default="[]")
    )
    op.add_column(
        "campaigns", sa.Column("stretch_goals", JSONB(), nullable=False, server_default="[]")
    )
    op.add_column(
        "campaigns",
        sa.Column(
            "stretch_goals_reached", ARRAY(sa.Integer()), nullable=False, server_default="{}"
        ),
    )
    op.add_column(
        "campaigns",
        sa.Column("highest_buyer_number", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    for column in ("highest_buyer_number", "stretch_goals_reached", "stretch_goals", "price_tiers"):
        op.drop_column("campaigns", column)
