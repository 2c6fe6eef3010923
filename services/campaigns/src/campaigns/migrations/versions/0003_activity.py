"""Activity feed (partitioned by month) and view/share counters.

`activity` is range-partitioned on `occurred_at` by UTC month, with a DEFAULT partition so an
insert never fails. `activity_ensure_partition(month)` creates one month's partition
idempotently (moving any rows that already landed in the default partition); the service
calls it ahead of time in the background and this migration calls it for the first months.

View/share hits are appended to `campaign_counter_increments` (an insert, no hot row) and
rolled up into `campaign_stats` periodically.

Revision ID: 0003_activity
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_activity"
down_revision = "0002_lifecycle"
branch_labels = None
depends_on = None

ENSURE_PARTITION = """
CREATE FUNCTION activity_ensure_partition(p_month date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    lo timestamptz := date_trunc('month', p_month::timestamp) AT TIME ZONE 'UTC';
    hi timestamptz := (date_trunc('month', p_month::timestamp) + interval '1 month')
                      AT TIME ZONE 'UTC';
    part text := 'activity_y' || to_char(p_month, 'YYYY') || 'm' || to_char(p_month, 'MM');
BEGIN
    -- One creator at a time (several instances run the maintenance task).
    PERFORM pg_advisory_xact_lock(hashtext('activity_partitions'));
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE activity INCLUDING DEFAULTS)', part);
    -- Rows of that month already in the default partition move to the new one; the lock
    -- keeps new ones out until the partition is attached.
    LOCK TABLE activity_default IN EXCLUSIVE MODE;
    EXECUTE format(
        'WITH moved AS (DELETE FROM activity_default WHERE occurred_at >= %L '
        'AND occurred_at < %L RETURNING *) INSERT INTO %I SELECT * FROM moved',
        lo, hi, part);
    EXECUTE format('ALTER TABLE activity ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   part, lo, hi);
    RETURN true;
END $$
"""


def upgrade() -> None:
    op.execute(sa.text("CREATE SEQUENCE activity_id_seq AS bigint"))
    op.execute(
        sa.text(
            "CREATE TABLE activity ("
            " id bigint NOT NULL DEFAULT nextval('activity_id_seq'),"
            " campaign_id uuid NOT NULL,"
            " kind varchar(40) NOT NULL,"
            " data jsonb NOT NULL DEFAULT '{}'::jsonb,"
            " occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
            " PRIMARY KEY (occurred_at, id)"
            ") PARTITION BY RANGE (occurred_at)"
        )
    )
    op.execute(sa.text("ALTER SEQUENCE activity_id_seq OWNED BY activity.id"))
    op.execute(
        sa.text("CREATE INDEX activity_feed ON activity (campaign_id, occurred_at DESC, id DESC)")
    )
    op.execute(sa.text("CREATE TABLE activity_default PARTITION OF activity DEFAULT"))
    op.execute(sa.text(ENSURE_PARTITION))
    op.execute(
        sa.text(
            "SELECT activity_ensure_partition((date_trunc('month', now() AT TIME ZONE 'UTC')"
            " + make_interval(months => m))::date) FROM generate_series(0, 2) AS m"
        )
    )

    op.create_table(
        "campaign_stats",
        sa.Column("campaign_id", sa.Uuid, primary_key=True),
        sa.Column("views", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("shares", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_table(
        "campaign_counter_increments",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("campaign_id", sa.Uuid, nullable=False, index=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


def downgrade() -> None:
    op.drop_table("campaign_counter_increments")
    op.drop_table("campaign_stats")
    op.execute(sa.text("DROP TABLE activity"))  # and its partitions and sequence
    op.execute(sa.text("DROP FUNCTION activity_ensure_partition(date)"))
