"""Creators' email (the OIDC token's `email` claim), for creator notifications.

Revision ID: 0005_creator_email
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_creator_email"
down_revision = "0004_creator_payouts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("creators", sa.Column("email", sa.String(320), nullable=True))


def downgrade() -> None:
    op.drop_column("creators", "email")
