"""One rate limiter shared by every instance of a service, kept in PostgreSQL.

Providers limit requests per account, not per process (Stripe: 25/s in test mode, 100/s
live; email and SMS providers alike), so the budget has to be shared: the one thing every
instance of a service shares is its database. Payments paces Stripe with it (ADR 0005),
notifications its email and SMS providers (ADR 0006).

The limiter is a GCRA ("generic cell rate algorithm", a token bucket stored as one
timestamp): a row per limiter holds the *theoretical arrival time* ``tat``; a caller reserves
the next slot with one atomic upsert and sleeps until it:

    start = max(tat, now - (burst - 1) * T)      -- T = 1 / rate
    tat   = start + T
    wait  = max(0, start - now)

Why this shape rather than the alternatives: a per-second slot table counts in whole
seconds (bursty at the edges, needs cleaning up), advisory locks would hold a lock across
the sleep; the GCRA row is one short auto-committed ``UPDATE`` per request (a single-row
update commits ~1,000/s here, ten times Stripe's live limit), it paces evenly rather than
in bursts, and time comes from the database's clock, the same for every instance. A
reservation is never given back: a caller that crashes before using its slot only makes
the others a little slower, never faster than the limit.

A caller that knows it will make ``n`` requests reserves them in one upsert
(:meth:`PgRateLimiter.reserve_block`): the row moves by ``n`` intervals at once and the
block's slots (``start``, ``start + T``, ... ``start + (n - 1) T``) are handed out locally at
the same pace (:class:`Reservation`). Blocks of different callers and instances never
overlap (each is a contiguous stretch of the one row's timeline), so the limit holds across
instances as before, at one commit per block instead of one per request (the row is hot:
every request of every instance serialises on it).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol

from sqlalchemy import Column, DateTime, MetaData, String, Table, text
from sqlalchemy.ext.asyncio import AsyncEngine

# One row per limiter name; a service's migration creates it with
# ``dropwave_runtime.migrations.create_rate_limits_table``:
#   CREATE TABLE rate_limits (name VARCHAR(64) PRIMARY KEY, tat TIMESTAMPTZ NOT NULL)
rate_limit_metadata = MetaData()
rate_limits_table = Table(
    "rate_limits",
    rate_limit_metadata,
    Column("name", String(64), primary_key=True),
    Column("tat", DateTime(timezone=True), nullable=False),
)


class RateLimiter(Protocol):
    """What a sender needs of a limiter: wait for the next slot, or reserve a batch's."""

    async def acquire(self) -> None: ...

    async def reserve_block(self, n: int) -> Reservation: ...


_RESERVE = text(
    """
    INSERT INTO rate_limits AS r (name, tat)
    VALUES (
        :name,
        clock_timestamp() - make_interval(secs => :tolerance) + make_interval(secs => :interval)
    )
    ON CONFLICT (name) DO UPDATE
        SET tat = GREATEST(r.tat, clock_timestamp() - make_interval(secs => :tolerance))
                  + make_interval(secs => :interval)
    RETURNING EXTRACT(
        EPOCH FROM (r.tat - make_interval(secs => :interval)) - clock_timestamp()
    )::float8
    """
)
"""Reserves ``:interval`` (``n`` slots: ``n`` x T) and returns the seconds from now to the
first slot's start (negative: already due)."""


class Reservation:
    """``n`` slots reserved in one upsert, handed out one per :meth:`acquire` in order, each
    no earlier than its own time (``T`` apart): the same pace as ``n`` single acquisitions."""

    def __init__(self, first_in_s: float, interval_s: float, n: int) -> None:
        now = asyncio.get_running_loop().time()
        self._due = deque(now + first_in_s + i * interval_s for i in range(n))

    def __len__(self) -> int:
        """Slots not handed out yet (never given back: unused ones only slow others)."""
        return len(self._due)

    async def acquire(self) -> None:
        """Wait for the next slot of the block; raises ``IndexError`` once it is used up."""
        delay = self._due.popleft() - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)


class PgRateLimiter:
    """``await limiter.acquire()`` before each request: at most ``rate_per_s`` requests per
    second (after an initial ``burst``) across every process sharing the database.

    Every instance must be configured with the same rate (it is a setting of the service).
    The service's database needs the ``rate_limits`` table (:data:`rate_limits_table`).
    """

    def __init__(self, engine: AsyncEngine, name: str, rate_per_s: float, burst: int = 1) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        if not 0 < len(name) <= 64:
            raise ValueError("name must be 1-64 characters")
        self.engine = engine
        self.name = name
        self.rate_per_s = rate_per_s
        self.burst = burst

    async def _reserve(self, n: int) -> float:
        """Move the row by ``n`` slots; the seconds from now to the first one."""
        if n < 1:
            raise ValueError("n must be >= 1")
        interval = 1.0 / self.rate_per_s
        async with self.engine.begin() as conn:
            first = (
                await conn.execute(
                    _RESERVE,
                    {
                        "name": self.name,
                        "interval": n * interval,
                        "tolerance": (self.burst - 1) * interval,
                    },
                )
            ).scalar_one()
        return float(first)

    async def reserve(self) -> float:
        """Reserve the next slot; returns the seconds to wait before using it."""
        return max(0.0, await self._reserve(1))

    async def reserve_block(self, n: int) -> Reservation:
        """Reserve the next ``n`` slots in one upsert (one commit on the hot row for ``n``
        requests); use each with ``await reservation.acquire()`` before its request."""
        return Reservation(await self._reserve(n), 1.0 / self.rate_per_s, n)

    async def acquire(self) -> None:
        """Wait for the next slot."""
        wait = await self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)
