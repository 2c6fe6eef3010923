"""Creators' contact settings, from campaigns' ``CreatorSettingsChanged``: where and how
creator messages go (email, SMS, both, none). Contact data: never logged.

Revision ID: 0005_stats_creators
Revises: 0004_tiers_stretch_goals
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0005_stats_creators"
down_revision = "0004_tiers_stretch_goals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "creators",
        sa.Column("creator_id", sa.String(255), primary_key=True),
        sa.Column("email", sa.String(320)),
        sa.Column("phone", sa.String(20)),
        sa.Column("milestone_channels", ARRAY(sa.String(8)), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("creators")
