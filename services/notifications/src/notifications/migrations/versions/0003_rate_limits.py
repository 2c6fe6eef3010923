"""The shared provider rate limiters (``dropwave_runtime.rate_limit``): one GCRA row per
provider, so every instance spends one email and one SMS budget.

Revision ID: 0003_rate_limits
Revises: 0002_fanout
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_rate_limits"
down_revision = "0002_fanout"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("tat", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_limits")
