"""The activity feature's background jobs, listed in the bootstrap: partition upkeep, the
view/share roll-up and the live listener."""

import logging
from datetime import UTC, datetime

from dropwave_runtime.db import Database

from . import store
from .settings import ActivityFeature

log = logging.getLogger(__name__)


async def keep_partitions(db: Database, feed: ActivityFeature) -> None:
    """Keep this month's and the next months' partitions in place (idempotent)."""
    async with db.engine.begin() as conn:
        created = await store.ensure_partitions(
            conn, datetime.now(UTC).date(), feed.settings.activity_partitions_ahead
        )
    if created:
        log.info("activity partitions created", extra={"months": [m.isoformat() for m in created]})


async def roll_up_counters(db: Database) -> None:
    """Fold view/share hits into the totals."""
    async with db.unit_of_work() as uow:
        await store.roll_up(uow.session)


async def live_listener(db: Database, feed: ActivityFeature) -> None:
    """The process's one LISTEN connection, fanned out to its SSE clients."""
    await feed.hub.run(db)
