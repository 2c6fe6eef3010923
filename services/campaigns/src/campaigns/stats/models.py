"""The stats feature's tables (schema: migrations/versions/0010_stats_projection.py).

Core tables (own ``MetaData``), like the activity feature's: they are projections and
counters, read by ``GROUP BY``, never loaded as objects.
"""

from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table, Uuid

metadata = MetaData()

orders_table = Table(
    "stats_orders",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("campaign_id", Uuid, nullable=False, index=True),
    Column("referral_code", String(64), nullable=False),  # '' for none
    Column("source", String(64), nullable=False),  # a label (domain.source_label)
    Column("placed_at", DateTime(timezone=True)),  # OrderPlaced's occurred_at
    Column("authorized_at", DateTime(timezone=True)),  # OrderConfirmed's
    Column("cancelled_at", DateTime(timezone=True)),  # OrderCancelled's
)

counter_sources_table = Table(
    "campaign_counter_sources",
    metadata,
    Column("campaign_id", Uuid, primary_key=True),
    Column("referral_code", String(64), primary_key=True),  # '' for none
    Column("source", String(64), primary_key=True),
    Column("views", BigInteger, nullable=False),
    Column("shares", BigInteger, nullable=False),
)
"""Rolled-up view/share hits per referral code and source (the activity roll-up writes
it together with the totals of ``campaign_stats``)."""
