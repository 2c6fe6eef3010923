"""Creators' settings: how they hear about milestones (email, SMS, both, none), their phone
for SMS, and the version every change raises (``CreatorSettingsChanged.version``).

Revision ID: 0011_stats_creator_settings
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0011_stats_creator_settings"
down_revision = "0010_stats_projection"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("creators", sa.Column("phone", sa.String(16), nullable=True))
    op.add_column(
        "creators",
        sa.Column(
            "milestone_channels",
            ARRAY(sa.String(8)),
            nullable=False,
            server_default=sa.text("'{email}'"),
        ),
    )
    op.add_column(
        "creators",
        sa.Column("settings_version", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("creators", "settings_version")
    op.drop_column("creators", "milestone_channels")
    op.drop_column("creators", "phone")
