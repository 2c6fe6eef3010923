"""The creator's stats (``campaigns/stats``): one row per order, projected from orders'
events, and view/share hits by referral code and source.

``stats_orders`` is keyed by the order, so a redelivered or concurrent event can never
count an order twice; the counts are ``GROUP BY`` reads of it. View/share hits keep
appending to ``campaign_counter_increments`` (now with the visitor's referral code and
source; hits from before carry neither: direct); the roll-up folds them into
``campaign_stats`` (totals) and ``campaign_counter_sources`` (per referral code and source)
in the same statement.

Revision ID: 0010_stats_projection
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_stats_projection"
down_revision = "0009_tiers_campaign_rules"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_orders",
        sa.Column("order_id", sa.Uuid, primary_key=True),
        sa.Column("campaign_id", sa.Uuid, nullable=False, index=True),
        # '' for none (part of the grouping key, like the counters' table).
        sa.Column("referral_code", sa.String(64), nullable=False, server_default=""),
        sa.Column("source", sa.String(64), nullable=False, server_default="direct"),
        sa.Column("placed_at", sa.DateTime(timezone=True)),
        sa.Column("authorized_at", sa.DateTime(timezone=True)),
        sa.Column("cancelled_at", sa.DateTime(timezone=True)),
    )
    for name, default in (("referral_code", ""), ("source", "direct")):
        op.add_column(
            "campaign_counter_increments",
            sa.Column(name, sa.String(64), nullable=False, server_default=default),
        )
    op.create_table(
        "campaign_counter_sources",
        sa.Column("campaign_id", sa.Uuid, nullable=False),
        sa.Column("referral_code", sa.String(64), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("views", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("shares", sa.BigInteger, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("campaign_id", "referral_code", "source"),
    )
    # Hits rolled up before this revision came without a referral code or a source: direct.
    op.execute(
        sa.text(
            "INSERT INTO campaign_counter_sources (campaign_id, referral_code, source, views,"
            " shares) SELECT campaign_id, '', 'direct', views, shares FROM campaign_stats"
        )
    )


def downgrade() -> None:
    op.drop_table("campaign_counter_sources")
    op.drop_column("campaign_counter_increments", "source")
    op.drop_column("campaign_counter_increments", "referral_code")
    op.drop_table("stats_orders")
