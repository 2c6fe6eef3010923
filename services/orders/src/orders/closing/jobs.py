"""The closing job, run every ``close_poll_interval_s`` by each instance."""

import logging

from dropwave_runtime.db import Database

from ..settings import Settings
from . import handlers

log = logging.getLogger(__package__)  # "orders.closing", the name its log lines always had

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
