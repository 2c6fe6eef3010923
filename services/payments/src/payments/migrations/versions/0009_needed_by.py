"""Authorizations are claimed earliest deadline first: ``settlement_items.needed_by`` is
when the item's answer is needed (an authorization's: its campaign's deadline, where orders
closes the tally), and the lanes' batch claim reads it in that order. Before, a viral drop's
backlog (thousands of orders of a drop closing in days) was worked through first come first
served, and a small drop closing in a minute had its last orders wait behind it, long enough
to be cancelled as not authorized in time. Existing items have none (claimed after any that
do, oldest first, as before).

Revision ID: 0009_needed_by
Revises: 0008_due_by_kind
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_needed_by"
down_revision: str | Sequence[str] | None = "0008_due_by_kind"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUED = sa.text("status = 'queued'")


def upgrade() -> None:
    op.add_column(
        "settlement_items", sa.Column("needed_by", sa.DateTime(timezone=True), nullable=True)
    )
    op.drop_index("ix_settlement_items_due_by_kind", table_name="settlement_items")
    op.create_index(
        "ix_settlement_items_due_by_kind",
        "settlement_items",
        ["kind", "needed_by", "next_attempt_at"],
        postgresql_where=QUEUED,
    )


def downgrade() -> None:
    op.drop_index("ix_settlement_items_due_by_kind", table_name="settlement_items")
    op.create_index(
        "ix_settlement_items_due_by_kind",
        "settlement_items",
        ["kind", "next_attempt_at"],
        postgresql_where=QUEUED,
    )
    op.drop_column("settlement_items", "needed_by")
