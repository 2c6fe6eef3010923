"""Retention: when a campaign closed, when its buyers' contacts were erased; an erased
buyer's email is null.

Revision ID: 0006_ship_retention
Revises: 0005_stats_creators
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_ship_retention"
down_revision = "0005_stats_creators"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("closed_at", sa.DateTime(timezone=True)))
    op.add_column("campaigns", sa.Column("pii_erased_at", sa.DateTime(timezone=True)))
    op.create_index(
        "ix_campaigns_closed_unerased",
        "campaigns",
        ["closed_at"],
        postgresql_where=sa.text("closed_at IS NOT NULL AND pii_erased_at IS NULL"),
    )
    op.alter_column("buyers", "email", nullable=True)


def downgrade() -> None:
    op.execute("UPDATE buyers SET email = '' WHERE email IS NULL")
    op.alter_column("buyers", "email", nullable=False)
    op.drop_index("ix_campaigns_closed_unerased", table_name="campaigns")
    op.drop_column("campaigns", "pii_erased_at")
    op.drop_column("campaigns", "closed_at")
