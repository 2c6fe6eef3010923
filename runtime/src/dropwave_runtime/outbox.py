"""The outbox relay: publishes committed events from the outbox table to Kafka.

Safe with several instances: a round runs under a transaction-scoped advisory lock, so at
most one instance relays at a time and events leave in commit-id order, which keeps
per-key (per-campaign) order. A crash after publishing but before deleting re-sends the
batch on the next round: delivery is at-least-once and consumers dedupe by event id.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Protocol

from sqlalchemy import delete, func, select, text

from .backoff import exponential
from .db import OUTBOX_CHANNEL, Database, outbox_table
from .listen import wake_on
from .metrics import OUTBOX_PENDING, OUTBOX_PUBLISHED, OUTBOX_RELAY_ERRORS
from .tracing import Tracing

log = logging.getLogger(__name__)

# Any fixed 64-bit number; one relay lock per database.
_RELAY_LOCK = 0x0D20_0BE1A7


class Publisher(Protocol):
    async def enqueue(
        self, topic: str, key: bytes, value: bytes, headers: dict[str, str]
    ) -> Awaitable[object]:
        """Hand one record to the producer in call order; await the result for the ack."""
        ...


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        publisher: Publisher,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        tracing: Tracing | None = None,
    ) -> None:
        self.db = db
        self.publisher = publisher
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.tracing = tracing or Tracing("outbox", export=False)
        self._wake = asyncio.Event()

    async def relay_once(self) -> int:
        """Publish one batch; returns how many events left the outbox (0 if locked out)."""
        async with self.db.engine.begin() as conn:
            locked = (
                await conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _RELAY_LOCK})
            ).scalar_one()
            if not locked:
                return 0
            rows = (
                await conn.execute(
                    select(
                        outbox_table.c.id,
                        outbox_table.c.topic,
                        outbox_table.c.key,
                        outbox_table.c.payload,
                        outbox_table.c.headers,
                    )
                    .order_by(outbox_table.c.id)
                    .limit(self.batch_size)
                )
            ).all()
            if not rows:
                OUTBOX_PENDING.set(0)
                return 0
            # Enqueue in id order (the producer keeps per-partition order), then await acks.
            # Each publish is a span continuing the trace of the request or event that
            # emitted the row (its stored traceparent); the span's own context is sent.
            spans = []
            try:
                acks = []
                for r in rows:
                    span, headers = self.tracing.start_publish(r.topic, r.headers)
                    spans.append(span)
                    acks.append(
                        await self.publisher.enqueue(r.topic, r.key.encode(), r.payload, headers)
                    )
                await asyncio.gather(*acks)
            finally:
                for span in spans:
                    if span is not None:
                        span.end()
            # Exact ids: a lower id committed meanwhile must stay for the next round.
            await conn.execute(
                delete(outbox_table).where(outbox_table.c.id.in_([r.id for r in rows]))
            )
            pending = (
                await conn.execute(select(func.count()).select_from(outbox_table))
            ).scalar_one()
        OUTBOX_PUBLISHED.inc(len(rows))
        OUTBOX_PENDING.set(pending)
        return len(rows)

    async def run(self) -> None:
        """Relay until cancelled: woken by LISTEN/NOTIFY, polling as a fallback."""
        listener = asyncio.create_task(
            wake_on(self.db, OUTBOX_CHANNEL, self._wake, self.poll_interval_s)
        )
        try:
            failures = 0
            while True:
                self._wake.clear()
                try:
                    sent = await self.relay_once()
                    failures = 0
                except Exception:
                    OUTBOX_RELAY_ERRORS.inc()
                    log.exception("outbox relay round failed; retrying")
                    failures += 1
                    await asyncio.sleep(exponential(failures, self.poll_interval_s, 30.0))
                    continue
                if sent >= self.batch_size:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
        finally:
            listener.cancel()
