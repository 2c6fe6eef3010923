"""The closing tally (ADR 0007): orders closes a campaign's intake at its deadline and
publishes the tally once every order placed in time has its outcome.

* ``campaigns.intake_closed_at``: set at the deadline; from then on no order and no cancel
  is accepted. ``authorizing_at_close``: orders still authorizing then (waited for).
  ``tallied_at``: the tally was emitted (once).
* ``orders.cancel_reason``: why an order was cancelled (``buyer_cancelled``, or
  ``not_authorized_in_time`` when the tally's wait ended before its authorization).
* A partial index finds a campaign's orders still authorizing without scanning the others.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("intake_closed_at", sa.DateTime(timezone=True)))
    op.add_column("campaigns", sa.Column("authorizing_at_close", sa.Integer()))
    op.add_column("campaigns", sa.Column("tallied_at", sa.DateTime(timezone=True)))
    op.add_column("orders", sa.Column("cancel_reason", sa.String(64)))
    op.create_index(
        "ix_campaigns_to_tally",
        "campaigns",
        ["deadline"],
        postgresql_where=sa.text("status = 'active' AND tallied_at IS NULL"),
    )
    op.create_index(
        "ix_orders_authorizing",
        "orders",
        ["campaign_id"],
        postgresql_where=sa.text("status IN ('pending', 'requires_action')"),
    )


def downgrade() -> None:
    op.drop_index("ix_orders_authorizing", "orders")
    op.drop_index("ix_campaigns_to_tally", "campaigns")
    op.drop_column("orders", "cancel_reason")
    op.drop_column("campaigns", "tallied_at")
    op.drop_column("campaigns", "authorizing_at_close")
    op.drop_column("campaigns", "intake_closed_at")
