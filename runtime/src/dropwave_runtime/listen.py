"""Wake a task on PostgreSQL ``NOTIFY``: one connection that ``LISTEN``s, reconnecting.

Pollers (the outbox relay, payments' work queue) sleep on an ``asyncio.Event`` with their
poll interval as the timeout; this sets the event when a trigger notifies the channel, so
new work is picked up at once while polling stays the fallback when the connection is lost.
"""

import asyncio
import logging

from .db import Database

log = logging.getLogger(__name__)


async def listen(db: Database, channel: str, wake: asyncio.Event, retry_s: float = 1.0) -> None:
    """Set `wake` on every notification of `channel`, until cancelled. The event is also set
    on each (re)connect: anything notified while nobody listened is caught up on."""
    while True:
        try:
            async with db.engine.connect() as conn:
                raw = await conn.get_raw_connection()
                driver = raw.driver_connection
                assert driver is not None
                lost = asyncio.Event()
                driver.add_termination_listener(lambda *_, ev=lost: ev.set())
                await driver.add_listener(channel, lambda *_: wake.set())
                wake.set()
                await lost.wait()
                raise ConnectionError("listener connection closed")
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("listener on %s lost; polling until it reconnects", channel, exc_info=True)
            await asyncio.sleep(retry_s)
