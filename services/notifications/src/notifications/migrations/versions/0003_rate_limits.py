"""The shared provider rate limiters (``dropwave_runtime.rate_limit``): one GCRA row per
provider, so every instance spends one email and one SMS budget.

Revision ID: 0003_rate_limits
Revises: 0002_fanout
"""

from alembic import op
from dropwave_runtime.migrations import create_rate_limits_table, drop_rate_limits_table

revision = "0003_rate_limits"
down_revision = "0002_fanout"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_rate_limits_table(op)


def downgrade() -> None:
    drop_rate_limits_table(op)
