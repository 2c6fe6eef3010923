"""The request budgets shared by the instances (``dropwave_runtime.http_limits``, ADR 0008):
per client address and route, and campaign creation per creator.

Revision ID: 0008_rate_limits
"""

from alembic import op
from dropwave_runtime.migrations import create_rate_limits_table, drop_rate_limits_table

revision = "0008_rate_limits"
down_revision = "0007_closing_tally"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_rate_limits_table(op)


def downgrade() -> None:
    drop_rate_limits_table(op)
