"""The outcome is decided on orders' closing tally (ADR 0007): campaigns no longer tracks
each order's authorization to know when to close, so ``order_outcomes`` goes.

Revision ID: 0007_closing_tally
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_closing_tally"
down_revision = "0006_order_outcomes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("order_outcomes")


def downgrade() -> None:
    op.create_table(
        "order_outcomes",
        sa.Column("order_id", sa.Uuid(), primary_key=True),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index(
        "order_outcomes_open",
        "order_outcomes",
        ["campaign_id"],
        postgresql_where=sa.text("NOT resolved"),
    )
