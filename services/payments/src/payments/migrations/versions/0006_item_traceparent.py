"""A queue item keeps the trace context of the event that queued it (``traceparent``), so the
worker's Stripe call, made later in another task, continues that trace (ADR 0013).

Revision ID: 0006_item_traceparent
Revises: 0005_queue_notify
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_item_traceparent"
down_revision: str | Sequence[str] | None = "0005_queue_notify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("settlement_items", sa.Column("traceparent", sa.String(55)))


def downgrade() -> None:
    op.drop_column("settlement_items", "traceparent")
