"""Campaign lifecycle: images, theme, cancel/close stamps, status check, scheduler and
listing indexes.

Revision ID: 0002_lifecycle
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002_lifecycle"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "campaigns",
        sa.Column("images", postgresql.JSONB, nullable=False, server_default=sa.text("'[]'")),
    )
    op.add_column(
        "campaigns",
        sa.Column("theme", postgresql.JSONB, nullable=False, server_default=sa.text("'{}'")),
    )
    op.add_column("campaigns", sa.Column("cancelled_at", sa.DateTime(timezone=True)))
    op.add_column("campaigns", sa.Column("cancel_reason", sa.String(500)))
    op.add_column("campaigns", sa.Column("closed_at", sa.DateTime(timezone=True)))
    op.create_check_constraint(
        "ck_campaigns_status",
        "campaigns",
        "status IN ('draft', 'active', 'successful', 'failed', 'cancelled')",
    )
    op.create_check_constraint("ck_campaigns_current_orders", "campaigns", "current_orders >= 0")
    # The deadline scheduler's query: active campaigns by deadline (small, partial).
    op.create_index(
        "ix_campaigns_due",
        "campaigns",
        ["deadline"],
        postgresql_where=sa.text("status = 'active'"),
    )
    # A creator's campaigns, newest first, keyset-paginated on (created_at, id).
    op.create_index(
        "ix_campaigns_creator_created",
        "campaigns",
        ["creator_id", sa.text("created_at DESC"), sa.text("id DESC")],
    )


def downgrade() -> None:
    op.drop_index("ix_campaigns_creator_created", table_name="campaigns")
    op.drop_index("ix_campaigns_due", table_name="campaigns")
    op.drop_constraint("ck_campaigns_current_orders", "campaigns")
    op.drop_constraint("ck_campaigns_status", "campaigns")
    for column in ("closed_at", "cancel_reason", "cancelled_at", "theme", "images"):
        op.drop_column("campaigns", column)
