"""Connect (creators' accounts, campaign -> creator), saved cards, refunds, pay-later.

Revision ID: 0003_connect_refunds
Revises: 0002_settlement
Create Date: 2025-01-03
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003_connect_refunds"
down_revision: str | None = "0002_settlement"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _payment_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("destination_account", sa.String(255), nullable=True),
        sa.Column("application_fee_cents", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.String(255), nullable=True),
        sa.Column("payment_method_id", sa.String(255), nullable=True),
        sa.Column("capture_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hold_expired", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("captured_cents", sa.Integer(), nullable=True),
        sa.Column("refunded_cents", sa.Integer(), nullable=False, server_default="0"),
    ]


def upgrade() -> None:
    for column in _payment_columns():
        op.add_column("payments", column)
    op.create_check_constraint(
        "ck_payments_refund_within_capture",
        "payments",
        "refunded_cents >= 0 AND refunded_cents <= COALESCE(captured_cents, amount_cents)",
    )
    op.create_table(
        "creator_accounts",
        sa.Column("creator_id", sa.String(255), primary_key=True),
        sa.Column("account_id", sa.String(255), nullable=False, unique=True),
        sa.Column("charges_enabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("payouts_enabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("details_submitted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("state_at", sa.Integer(), nullable=False, server_default="0"),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_table(
        "campaign_creators",
        sa.Column("campaign_id", sa.Uuid(), primary_key=True),
        sa.Column("creator_id", sa.String(255), nullable=False),
    )
    op.create_index("ix_campaign_creators_creator_id", "campaign_creators", ["creator_id"])
    op.create_table(
        "refunds",
        sa.Column("refund_id", sa.String(255), primary_key=True),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(300), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("amount_cents > 0", name="ck_refunds_positive"),
    )
    op.create_index("ix_refunds_order_id", "refunds", ["order_id"])
    op.create_table(
        "pay_later",
        sa.Column("order_id", sa.Uuid(), primary_key=True),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("payment_intent_id", sa.String(255), nullable=False),
        sa.Column("client_secret", sa.String(255), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("reminders_sent", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_reminder_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
    )
    op.create_index(
        "ix_pay_later_due",
        "pay_later",
        ["next_reminder_at"],
        postgresql_where=sa.text("status = 'open'"),
    )


def downgrade() -> None:
    op.drop_index("ix_pay_later_due", table_name="pay_later")
    op.drop_table("pay_later")
    op.drop_index("ix_refunds_order_id", table_name="refunds")
    op.drop_table("refunds")
    op.drop_index("ix_campaign_creators_creator_id", table_name="campaign_creators")
    op.drop_table("campaign_creators")
    op.drop_table("creator_accounts")
    op.drop_constraint("ck_payments_refund_within_capture", "payments", type_="check")
    for column in reversed(_payment_columns()):
        op.drop_column("payments", column.name)
