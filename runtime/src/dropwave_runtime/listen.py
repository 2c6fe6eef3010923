"""React to PostgreSQL ``NOTIFY``: one connection that ``LISTEN``s, reconnecting.

Pollers (the outbox relay, payments' work queue) sleep on an ``asyncio.Event`` with their
poll interval as the timeout and are woken through ``wake_on``; the live feed fans each
payload out to its clients. Whatever is notified while the connection is down is lost, so
``on_connect`` catches up (a poller wakes, polling stays the fallback) and ``on_lost`` lets
the listener give up what it can no longer keep current (the live feed ends its streams).
"""

import asyncio
import logging
from collections.abc import Callable

from .db import Database

log = logging.getLogger(__name__)


async def listen(
    db: Database,
    channel: str,
    on_notify: Callable[[str], object],
    *,
    on_connect: Callable[[], object] | None = None,
    on_lost: Callable[[], object] | None = None,
    retry_s: float = 1.0,
) -> None:
    """Call ``on_notify(payload)`` for every notification of ``channel``, until cancelled;
    ``on_connect()`` on each (re)connect, ``on_lost()`` when a held connection ends (or
    the task is cancelled)."""
    while True:
        connected = False
        try:
            async with db.engine.connect() as conn:
                raw = await conn.get_raw_connection()
                driver = raw.driver_connection
                assert driver is not None
                lost = asyncio.Event()
                driver.add_termination_listener(lambda *_, ev=lost: ev.set())
                await driver.add_listener(channel, lambda _c, _p, _ch, payload: on_notify(payload))
                connected = True
                if on_connect is not None:
                    on_connect()
                await lost.wait()
                raise ConnectionError("listener connection closed")
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("listener on %s lost; reconnecting", channel, exc_info=True)
        finally:
            if connected and on_lost is not None:
                on_lost()
        await asyncio.sleep(retry_s)


async def wake_on(db: Database, channel: str, wake: asyncio.Event, retry_s: float = 1.0) -> None:
    """Set ``wake`` on every notification of ``channel`` and on each (re)connect (anything
    notified while nobody listened is caught up on)."""
    await listen(db, channel, lambda _: wake.set(), on_connect=wake.set, retry_s=retry_s)
