"""Live updates: one LISTEN connection per process, fanned out in memory to SSE clients.

Writers `pg_notify` in the transaction that changes what clients see (see store.py), so
every instance of the service hears every committed change, whichever instance made it.
Each client has a bounded queue: a client that falls behind is dropped (it reconnects and
resumes from the feed with Last-Event-ID), so one slow reader never holds up the others.
"""

import asyncio
import json
import logging
from typing import Any

from dropwave_runtime.db import Database
from dropwave_runtime.listen import listen

from .store import LIVE_CHANNEL

log = logging.getLogger(__name__)

Message = dict[str, Any]


class Subscriber:
    def __init__(self, campaign_id: str, queue_size: int, client: str = "") -> None:
        self.campaign_id = campaign_id
        self.client = client
        # One slot more than the limit, for the end-of-stream marker.
        self.queue: asyncio.Queue[Message | None] = asyncio.Queue(queue_size + 1)
        self.limit = queue_size
        self.dropped = False

    def offer(self, message: Message) -> bool:
        """Queue without waiting; False when the client is too far behind."""
        if self.dropped or self.queue.qsize() >= self.limit:
            return False
        self.queue.put_nowait(message)
        return True

    def close(self) -> None:
        """End the stream: pending messages are discarded, the reader sees None next."""
        self.dropped = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)

    async def get(self, idle_s: float) -> Message | None:
        """The next message; None when the stream is over; TimeoutError when idle."""
        return await asyncio.wait_for(self.queue.get(), idle_s)


class LiveHub:
    def __init__(
        self, queue_size: int = 100, max_clients: int = 10_000, max_per_ip: int = 20
    ) -> None:
        self.queue_size = queue_size
        self.max_clients = max_clients
        self.max_per_ip = max_per_ip
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._per_client: dict[str, int] = {}
        self.clients = 0
        self.listening = asyncio.Event()

    def clients_of(self, client: str) -> int:
        """Streams this process serves to one client address."""
        return self._per_client.get(client, 0)

    def subscribe(self, campaign_id: str, client: str = "") -> Subscriber | None:
        """A new subscriber, or None when this process serves as many as it may, in all or
        to this client address."""
        if self.clients >= self.max_clients or self.clients_of(client) >= self.max_per_ip:
            return None
        sub = Subscriber(campaign_id, self.queue_size, client)
        self._subscribers.setdefault(campaign_id, set()).add(sub)
        self.clients += 1
        self._per_client[client] = self.clients_of(client) + 1
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        subs = self._subscribers.get(sub.campaign_id)
        if subs is None or sub not in subs:
            return
        subs.discard(sub)
        self.clients -= 1
        left = self._per_client.pop(sub.client, 1) - 1
        if left > 0:
            self._per_client[sub.client] = left
        if not subs:
            del self._subscribers[sub.campaign_id]

    def dispatch(self, payload: str) -> None:
        """Fan one notification out to the campaign's subscribers; never waits."""
        try:
            note = json.loads(payload)
            campaign_id = str(note["campaign_id"])
            message: Message = {"type": str(note["type"]), "data": note["data"]}
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed live notification")
            return
        for sub in list(self._subscribers.get(campaign_id, ())):
            if not sub.offer(message):
                log.info("dropping a live client that fell behind")
                self.unsubscribe(sub)
                sub.close()

    def close_all(self) -> None:
        """End every stream (e.g. the listener lost notifications): clients resume."""
        for subs in list(self._subscribers.values()):
            for sub in list(subs):
                self.unsubscribe(sub)
                sub.close()

    async def run(self, db: Database, retry_s: float = 1.0) -> None:
        """Hold the LISTEN connection until cancelled, reconnecting on loss; whatever was
        notified while nobody listened is lost to this process, so its streams end (clients
        resume from the feed)."""
        await listen(
            db,
            LIVE_CHANNEL,
            self.dispatch,
            on_connect=self.listening.set,
            on_lost=self._lost,
            retry_s=retry_s,
        )

    def _lost(self) -> None:
        self.listening.clear()
        self.close_all()
