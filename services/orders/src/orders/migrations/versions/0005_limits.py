"""Limits that stop abuse (ADR 0008): the request budgets shared by the instances
(``rate_limits``, as ``dropwave_runtime.http_limits`` uses it); the client address an order
came from (``orders.client_ip``), so a later card decline is held against that address as
well as the buyer's email; ``decline_counters``, the declines per address and per email in
the current window and, past the threshold, until when that one may not order.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op
from dropwave_runtime.migrations import create_rate_limits_table, drop_rate_limits_table

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_rate_limits_table(op)
    op.add_column("orders", sa.Column("client_ip", sa.String(45), nullable=True))
    op.create_table(
        "decline_counters",
        sa.Column("subject", sa.String(400), primary_key=True),
        sa.Column("declines", sa.Integer, nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_decline_counters_locked_until",
        "decline_counters",
        ["locked_until"],
        postgresql_where=sa.text("locked_until IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_decline_counters_locked_until", "decline_counters")
    op.drop_table("decline_counters")
    op.drop_column("orders", "client_ip")
    drop_rate_limits_table(op)
