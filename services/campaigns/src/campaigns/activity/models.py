"""The activity feature's tables (schema: migrations/versions/0003_activity.py).

Core tables only (SQLAlchemy Core, own ``MetaData``), not on ``campaigns.models.Base``:
the feed is a partitioned table kept by SQL functions of that migration, not a mapped class.
"""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    FetchedValue,
    Identity,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

activity_table = Table(
    "activity",
    metadata,
    # Both defaults are the database's (a sequence; clock_timestamp()).
    Column("id", BigInteger, nullable=False, server_default=FetchedValue()),
    Column("campaign_id", Uuid, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("data", JSONB, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False, server_default=FetchedValue()),
    PrimaryKeyConstraint("occurred_at", "id"),
)

stats_table = Table(
    "campaign_stats",
    metadata,
    Column("campaign_id", Uuid, primary_key=True),
    Column("views", BigInteger, nullable=False),
    Column("shares", BigInteger, nullable=False),
)

increments_table = Table(
    "campaign_counter_increments",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("campaign_id", Uuid, nullable=False),
    Column("kind", String(10), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # The visitor's referral code ('' for none) and source label (campaigns/stats/domain.py).
    Column("referral_code", String(64), nullable=False),
    Column("source", String(64), nullable=False),
)
