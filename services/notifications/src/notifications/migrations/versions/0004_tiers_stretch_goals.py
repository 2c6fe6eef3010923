"""The campaign's early-bird tiers (the creator's settlement mail prices by them) and the
stretch goals reached so far (a buyer confirmed before a goal was reached, but seen after
it, is still owed its message).

Revision ID: 0004_tiers_stretch_goals
Revises: 0003_rate_limits
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004_tiers_stretch_goals"
down_revision = "0003_rate_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for column in ("price_tiers", "stretch_goals_reached"):
        op.add_column("campaigns", sa.Column(column, JSONB(), nullable=False, server_default="[]"))


def downgrade() -> None:
    for column in ("stretch_goals_reached", "price_tiers"):
        op.drop_column("campaigns", column)
