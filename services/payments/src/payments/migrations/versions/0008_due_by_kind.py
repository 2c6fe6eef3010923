"""The lanes' batch claim of authorizations (``kind = 'authorize'``, due, oldest first)
reads an index of its own: with only ``ix_settlement_items_due`` it walks every queued item
due before the first authorization (a capture run of thousands) on every empty claim.

Revision ID: 0008_due_by_kind
Revises: 0007_save_card
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_due_by_kind"
down_revision: str | Sequence[str] | None = "0007_save_card"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_settlement_items_due_by_kind",
        "settlement_items",
        ["kind", "next_attempt_at"],
        postgresql_where=sa.text("status = 'queued'"),
    )


def downgrade() -> None:
    op.drop_index("ix_settlement_items_due_by_kind", table_name="settlement_items")
