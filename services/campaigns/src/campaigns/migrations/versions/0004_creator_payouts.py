"""Creators' payout flag (from payments' CreatorPayoutsUpdated): publishing may require it.

Revision ID: 0004_creator_payouts
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_creator_payouts"
down_revision = "0003_activity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "creators",
        sa.Column("payouts_enabled", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "creators", sa.Column("payouts_state_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("creators", "payouts_state_at")
    op.drop_column("creators", "payouts_enabled")
