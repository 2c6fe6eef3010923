"""The campaign's creator on the snapshot (from CampaignPublished), carried on OrderPlaced so
payments can route a charge to the creator's Connect account without waiting for the publish.

Nullable: snapshots made before this migration have none until their campaign is published
again (payments then falls back to its own campaign -> creator map).

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("creator_id", sa.String(255), nullable=True))


def downgrade() -> None:
    op.drop_column("campaigns", "creator_id")
