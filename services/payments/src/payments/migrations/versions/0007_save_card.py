"""Whether an order's card is saved for an off-session charge (issue 15): decided once when
its ``OrderPlaced`` is handled, from the campaign's deadline, so every attempt of its
authorization sends the same parameters under the same idempotency key. Existing payments
were all authorized with a saved card: ``true``.

Revision ID: 0007_save_card
Revises: 0006_item_traceparent
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_save_card"
down_revision: str | Sequence[str] | None = "0006_item_traceparent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "payments",
        sa.Column("save_card", sa.Boolean(), nullable=False, server_default=sa.true()),
    )


def downgrade() -> None:
    op.drop_column("payments", "save_card")
