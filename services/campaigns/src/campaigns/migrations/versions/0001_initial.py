"""Initial schema: plumbing (outbox, inbox), creators, campaigns.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from dropwave_runtime.migrations import create_plumbing, drop_plumbing
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_plumbing(op)
    op.create_table(
        "creators",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("creator_id", sa.String(255), nullable=False, index=True),
        sa.Column("slug", sa.String(120), nullable=False, unique=True),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("description", sa.String(5000), nullable=False),
        sa.Column("price_cents", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("min_orders", sa.Integer, nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("current_orders", sa.Integer, nullable=False),
        sa.Column("milestones_reached", postgresql.ARRAY(sa.Integer), nullable=False),
        sa.Column("tipped_at", sa.DateTime(timezone=True)),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("campaigns")
    op.drop_table("creators")
    drop_plumbing(op)
