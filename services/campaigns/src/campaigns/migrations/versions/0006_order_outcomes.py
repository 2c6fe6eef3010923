"""Orders whose authorization is still open: the deadline waits for them (ADR 0004); the
latest confirmation time counted (the tipping time covers every counted confirmation).

Revision ID: 0006_order_outcomes
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_order_outcomes"
down_revision = "0005_creator_email"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "campaigns", sa.Column("last_confirmed_at", sa.DateTime(timezone=True), nullable=True)
    )
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


def downgrade() -> None:
    op.drop_table("order_outcomes")
    op.drop_column("campaigns", "last_confirmed_at")
