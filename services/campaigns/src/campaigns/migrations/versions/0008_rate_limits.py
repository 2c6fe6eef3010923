"""The request budgets shared by the instances (``dropwave_runtime.http_limits``, ADR 0008):
per client address and route, and campaign creation per creator.

Revision ID: 0008_rate_limits
"""

from alembic import op
from dropwave_runtime.rate_limit import rate_limits_table

revision = "0008_rate_limits"
down_revision = "0007_closing_tally"
branch_labels = None
depends_on = None


def upgrade() -> None:
    rate_limits_table.create(op.get_bind())  # the runtime's table (payments' 0002 has the same DDL)


def downgrade() -> None:
    op.drop_table("rate_limits")
