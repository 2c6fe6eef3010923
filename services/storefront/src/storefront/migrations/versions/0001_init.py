"""The storefront's schema: plumbing (outbox, inbox), the request budgets' table and the
read model of the campaign pages.

Revision ID: 0001_init
"""

import sqlalchemy as sa
from alembic import op
from dropwave_runtime.migrations import (
    create_plumbing,
    create_rate_limits_table,
    drop_plumbing,
    drop_rate_limits_table,
)
from sqlalchemy.dialects import postgresql

revision = "0001_init"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_plumbing(op)
    create_rate_limits_table(op)
    op.create_table(
        "campaign_pages",
        sa.Column("campaign_id", sa.Uuid, primary_key=True),
        sa.Column("slug", sa.String(120), unique=True),
        sa.Column("status", sa.String(20)),
        sa.Column("title", sa.Text, nullable=False, server_default=""),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("images", postgresql.JSONB, nullable=False, server_default="[]"),
        sa.Column("theme_accent", sa.String(7)),
        sa.Column("custom_css", sa.Text, nullable=False, server_default=""),
        sa.Column("price_cents", sa.Integer),
        sa.Column("currency", sa.String(3)),
        sa.Column("min_orders", sa.Integer),
        sa.Column("deadline", sa.DateTime(timezone=True)),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("joined", sa.Integer, nullable=False, server_default="0"),
        sa.Column("tipped_at", sa.DateTime(timezone=True)),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


def downgrade() -> None:
    op.drop_table("campaign_pages")
    drop_rate_limits_table(op)
    drop_plumbing(op)
