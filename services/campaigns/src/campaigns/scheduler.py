"""The deadline scheduler: closes every active campaign whose deadline has passed.

State lives in the database only (status + deadline), so nothing is missed across restarts:
the first round after start-up closes whatever fell due while the process was down. Any
number of instances may run it; `close_due_campaigns` locks with `SKIP LOCKED`.
"""

import asyncio
import logging

from dropwave_runtime.service import ServiceRuntime

from . import handlers
from .settings import Settings

log = logging.getLogger(__name__)

BATCH = 100


async def close_due(rt: ServiceRuntime, batch: int = BATCH) -> int:
    """Close due campaigns batch by batch until none is left; return how many."""
    settings = rt.settings
    assert isinstance(settings, Settings)
    closed = 0
    while True:
        async with rt.db.unit_of_work() as uow:
            done = await handlers.close_due_campaigns(
                uow, batch, settings.close_settle_s, settings.close_max_wait_s
            )
        closed += len(done)
        for campaign in done:
            log.info(
                "campaign closed",
                extra={"campaign_id": str(campaign.id), "status": campaign.status},
            )
        if len(done) < batch:
            return closed


async def deadline_scheduler(rt: ServiceRuntime) -> None:
    """Background task: one round at start, then every `deadline_poll_interval_s`."""
    settings = rt.settings
    assert isinstance(settings, Settings)
    while True:
        try:
            await close_due(rt)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The database may be briefly away; the next round retries (nothing is lost).
            log.exception("deadline round failed")
        await asyncio.sleep(settings.deadline_poll_interval_s)
