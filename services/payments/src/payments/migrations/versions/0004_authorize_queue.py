"""Durable authorizations, recorded cancels and the tally gate (issue 9).

``settlement_items`` takes ``authorize`` items too (with the event that queued them),
``payments.cancel_requested_at`` marks a cancelled order (never capture-eligible),
``authorization_attempts`` records that an authorization reached Stripe (committed before
the call), ``settlements.tally_event_id`` and ``campaign_tallies`` gate captures on orders'
closing tally.

Revision ID: 0004_authorize_queue
Revises: 0003_connect_refunds
Create Date: 2025-01-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_authorize_queue"
down_revision: str | None = "0003_connect_refunds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "payments", sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("settlement_items", sa.Column("correlation_id", sa.String(128), nullable=True))
    op.add_column("settlement_items", sa.Column("causation_id", sa.String(128), nullable=True))
    op.add_column("settlements", sa.Column("tally_event_id", sa.Uuid(), nullable=True))
    op.create_table(
        "authorization_attempts",
        sa.Column("order_id", sa.Uuid(), primary_key=True),
        sa.Column(
            "first_attempt_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
    )
    op.create_table(
        "campaign_tallies",
        sa.Column("tally_event_id", sa.Uuid(), primary_key=True),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("standing_orders", sa.Integer(), nullable=False),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index("ix_campaign_tallies_campaign_id", "campaign_tallies", ["campaign_id"])


def downgrade() -> None:
    op.drop_index("ix_campaign_tallies_campaign_id", table_name="campaign_tallies")
    op.drop_table("campaign_tallies")
    op.drop_table("authorization_attempts")
    op.drop_column("settlements", "tally_event_id")
    op.drop_column("settlement_items", "causation_id")
    op.drop_column("settlement_items", "correlation_id")
    op.drop_column("payments", "cancel_requested_at")
