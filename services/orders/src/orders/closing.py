"""The closing job: at a campaign's deadline orders closes its intake and, once every order
placed in time has its outcome, publishes the closing tally (``OrdersTallied``).

Orders owns order state, so orders says which orders stand; campaigns decides the outcome
from the tally alone (docs/adr/0007-closing-tally.md). State lives in the database only
(deadline, ``intake_closed_at``, ``tallied_at``), so a restart misses nothing and any number
of instances may run the job (``SKIP LOCKED``).
"""

import logging

from dropwave_runtime.db import Database

from . import handlers
from .settings import Settings

log = logging.getLogger(__name__)

BATCH = 100


async def close_due(db: Database, settings: Settings, batch: int = BATCH) -> int:
    """Rounds until no due campaign is left; returns how many tallies were emitted. Run
    every ``close_poll_interval_s`` (the bootstrap's periodic job); a failed round is
    retried by the next one (nothing is lost)."""
    tallied = 0
    while True:
        async with db.unit_of_work() as uow:
            taken, tallies = await handlers.close_and_tally(uow, batch, settings.close_max_wait_s)
        tallied += len(tallies)
        for tally in tallies:
            log.info(
                "campaign tallied",
                extra={
                    "campaign_id": str(tally.campaign_id),
                    "standing_orders": tally.standing_orders,
                    "not_authorized_in_time": tally.not_authorized_in_time,
                },
            )
        if taken < batch:
            return tallied
