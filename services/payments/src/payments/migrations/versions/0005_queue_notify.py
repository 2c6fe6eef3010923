"""Wake the work queue's lanes at once: a trigger NOTIFYs ``payments_queue`` whenever an item
becomes due now (inserted, or made due by a cancel or ``queue retry``). Notifications of one
transaction are delivered once, so a run enqueuing thousands of captures wakes the lanes once.
A backoff (``next_attempt_at`` in the future) notifies nothing; polling stays the fallback.

Revision ID: 0005_queue_notify
Revises: 0004_authorize_queue
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005_queue_notify"
down_revision: str | Sequence[str] | None = "0004_authorize_queue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "payments_queue"


def upgrade() -> None:
    op.execute(
        "CREATE FUNCTION settlement_items_notify() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN PERFORM pg_notify('{CHANNEL}', ''); RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER settlement_items_due AFTER INSERT OR UPDATE OF status, next_attempt_at "
        "ON settlement_items FOR EACH ROW "
        "WHEN (NEW.status = 'queued' AND NEW.next_attempt_at <= now()) "
        "EXECUTE FUNCTION settlement_items_notify()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER settlement_items_due ON settlement_items")
    op.execute("DROP FUNCTION settlement_items_notify()")
