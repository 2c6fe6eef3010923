"""Request rate limits on the public API, shared by every instance of a service.

Why not :class:`~dropwave_runtime.rate_limit.PgRateLimiter` per request: that is one
auto-committed ``UPDATE`` per request, and order intake takes thousands of orders a second
on one campaign by committing them in groups (ADR 0001); a commit per request would cost
more than the order itself. So each process decides locally and the processes share their
counts through PostgreSQL once per ``RATE_LIMIT_SYNC_S`` (ADR 0008):

* Every key (``<route>|<client ip>``, ``order-email|<address>``, ...) is a GCRA bucket, the
  same algorithm as ``PgRateLimiter``: a *theoretical arrival time* ``tat``; a request is
  allowed when ``tat <= now`` and then moves ``tat = max(tat, now - tolerance) + interval``
  (``interval = period / count``, ``tolerance = (count - 1) * interval``: the whole period's
  budget may come at once, then it refills evenly). Refused: ``Retry-After = tat - now``.
* A process keeps the buckets it has seen and counts what it allowed since the last sync.
  The sync sends, in one transaction (serialized between instances by an advisory lock),
  every key's count to the ``rate_limits`` table (``tat = max(tat, now - tolerance) + n *
  interval``) and takes back the shared ``tat``, as seconds from the database's now (no
  clock skew between instances). So all instances spend one budget; an instance learns a
  key's spending by others at its first sync after it sees that key, i.e. N instances may
  together let through up to N bursts in the first sync period, never more after it.
* If the database cannot be reached, limits stay per process (logged), never fail closed.

Rows are deleted once their ``tat`` is a day old: a row whose ``tat`` is more than its
tolerance in the past means a full bucket, exactly like no row, and periods are at most a
day. The table is the one ``PgRateLimiter`` uses (its rows, named without ``|``, are
untouched in meaning by the clean-up for the same reason).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, DOUBLE_PRECISION, INTEGER, TEXT
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from .client_ip import Network, client_ip, in_networks
from .periodic import every
from .problems import Problem, problem_response

log = logging.getLogger(__name__)

__all__ = ["Rate", "RateLimited", "RouteRateLimit", "SharedBuckets", "parse_rate"]

_PERIODS = {"s": 1.0, "sec": 1.0, "min": 60.0, "hour": 3600.0, "h": 3600.0, "day": 86400.0}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|min|hour|h|day)\s*$")
MAX_KEY = 64  # rate_limits.name
MAX_MATCHED = 10_000  # paths whose route RouteRateLimit remembers
EVICT_EVERY = 10
"""Syncs between two sweeps of the full buckets (a sweep reads every bucket: under a rush of
new buyers, tens of thousands); ``max_keys`` still bounds memory in between."""


@dataclass(frozen=True)
class Rate:
    """``count`` requests per ``period_s`` seconds, all of which may come at once."""

    count: int
    period_s: float

    @property
    def interval(self) -> float:
        return self.period_s / self.count

    @property
    def tolerance(self) -> float:
        return (self.count - 1) * self.interval

    def __str__(self) -> str:
        unit = {1.0: "s", 60.0: "min", 3600.0: "hour", 86400.0: "day"}[self.period_s]
        return f"{self.count}/{unit}"


@functools.lru_cache(maxsize=256)
def parse_rate(value: str) -> Rate | None:
    """``"100/min"`` -> Rate(100, 60); ``"off"`` -> None (no limit). Units: s, min, hour, day.

    Cached (a ``Rate`` is immutable): routes read their named budgets on every request."""
    if value.strip().lower() in ("off", "none", "unlimited"):
        return None
    match = _RATE.match(value.lower())
    if match is None or int(match.group(1)) < 1:
        raise ValueError(f"not a rate: {value!r} (e.g. '100/min', '10/hour' or 'off')")
    return Rate(int(match.group(1)), _PERIODS[match.group(2)])


class RateLimited(Problem):
    """429 with ``Retry-After`` (whole seconds, at least 1)."""

    def __init__(
        self, wait_s: float, code: str = "rate_limited", detail: str | None = None
    ) -> None:
        retry_after = max(1, math.ceil(wait_s))
        super().__init__(
            429,
            code,
            "Too many requests",
            detail or "Slow down and retry later.",
            headers={"Retry-After": str(retry_after)},
            retry_after_s=retry_after,
        )


class _Bucket:
    __slots__ = ("pending", "rate", "tat")

    def __init__(self, tat: float, rate: Rate) -> None:
        self.tat = tat
        self.pending = 0
        self.rate = rate


_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('dropwave_http_rate_limits'))")
# One statement per rate: a key new to the table is inserted with its spending, one already
# there moves by it. Both in the transaction's ``now()``, so the spending ``n * interval``
# is ``EXCLUDED.tat - (now() - tolerance)`` and an existing row becomes
# ``GREATEST(tat, now() - tolerance) + n * interval``, the same GCRA step as a request's.
_SPEND = text(
    """
    INSERT INTO rate_limits AS r (name, tat)
    SELECT u.k, now() - make_interval(secs => :tolerance) + make_interval(secs => u.n * :interval)
    FROM unnest(:names, :counts) AS u(k, n)
    ON CONFLICT (name) DO UPDATE
    SET tat = GREATEST(
        r.tat + (EXCLUDED.tat - (now() - make_interval(secs => :tolerance))), EXCLUDED.tat
    )
    RETURNING r.name, EXTRACT(EPOCH FROM r.tat - now())::float8
    """
).bindparams(
    bindparam("names", type_=ARRAY(TEXT)),
    bindparam("counts", type_=ARRAY(INTEGER)),
    bindparam("interval", type_=DOUBLE_PRECISION),
    bindparam("tolerance", type_=DOUBLE_PRECISION),
)
_CLEAN = text("DELETE FROM rate_limits WHERE tat < clock_timestamp() - interval '1 day'")


def bucket_key(*parts: str) -> str:
    """``a|b``, hashed when longer than the table's key (an email address can be 320 chars)."""
    key = "|".join(parts)
    if len(key) <= MAX_KEY:
        return key
    digest = hashlib.blake2b(key.encode(), digest_size=20).hexdigest()
    return f"{parts[0][:20]}|#{digest}"


class SharedBuckets:
    """Per-key GCRA buckets decided in-process, shared through PostgreSQL by :meth:`sync`."""

    def __init__(
        self,
        engine: AsyncEngine | None,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 200_000,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}
        self._syncs = 0

    def take(self, key: str, rate: Rate) -> float:
        """Spend one request of ``key``'s budget: 0.0 if allowed, else the seconds to wait."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._evict(now, force=True)
            bucket = self._buckets[key] = _Bucket(now - rate.tolerance, rate)
        bucket.rate = rate
        if bucket.tat > now:
            return bucket.tat - now
        bucket.tat = max(bucket.tat, now - rate.tolerance) + rate.interval
        bucket.pending += 1
        return 0.0

    async def sync(self) -> None:
        """Send what this process allowed since the last sync; take back the shared state."""
        by_rate: dict[Rate, list[tuple[str, int]]] = {}
        for key, held in self._buckets.items():
            if held.pending:
                by_rate.setdefault(held.rate, []).append((key, held.pending))
                held.pending = 0
        self._syncs += 1
        if self.engine is None or not by_rate:
            self._evict(self.clock())
            return
        rows: list[Any] = []
        try:
            async with self.engine.begin() as conn:
                await conn.execute(_LOCK)
                # Keys in one order in every instance: concurrent upserts never deadlock.
                for rate, spent in sorted(by_rate.items(), key=lambda item: str(item[0])):
                    spent.sort()
                    params = {
                        "names": [k for k, _ in spent],
                        "counts": [n for _, n in spent],
                        "interval": rate.interval,
                        "tolerance": rate.tolerance,
                    }
                    rows += (await conn.execute(_SPEND, params)).all()
                if self._syncs % 600 == 1:
                    await conn.execute(_CLEAN)
        except Exception:
            log.warning(
                "rate limit sync failed; limits are per process until it works", exc_info=True
            )
            for spent in by_rate.values():  # sent next time
                for key, count in spent:
                    if (bucket := self._buckets.get(key)) is not None:
                        bucket.pending += count
            return
        now = self.clock()
        for key, ahead in rows:
            bucket = self._buckets.get(key)
            if bucket is not None:
                shared = now + float(ahead) + bucket.pending * bucket.rate.interval
                bucket.tat = max(bucket.tat, shared)
        if self._syncs % EVICT_EVERY == 0:
            self._evict(now)

    async def run(self, interval_s: float) -> None:
        """Sync every ``interval_s`` until cancelled (a background task of the service); the
        first sync after one interval (``sync`` logs its own failures)."""
        await every(interval_s, self.sync, name="rate limit sync", first_at_start=False, logger=log)

    def _evict(self, now: float, force: bool = False) -> None:
        """Forget full buckets (the same as never seen); at ``max_keys``, the oldest tenth
        (forgotten buckets start full again: lenient, never stricter)."""
        stale = [
            k for k, b in self._buckets.items() if not b.pending and b.tat <= now - b.rate.tolerance
        ]
        for key in stale:
            del self._buckets[key]
        if force and len(self._buckets) >= self.max_keys:
            # The oldest tenth at once, rebuilding the dict: deleting one key at a time from
            # the front makes every next(iter(...)) walk the holes left before it.
            keep = list(self._buckets.items())[self.max_keys // 10 + 1 :]
            self._buckets = dict(keep)


class RouteRateLimit:
    """Pure ASGI middleware: every ``/api/`` request is counted against its route's budget per
    client address (``<route name>|<ip>``), before the body is read; over it: 429 problem
    ``rate_limited`` with ``Retry-After``.

    ``routes`` are the service's routes with their rate (``None``: no limit) and name (the
    endpoint function's name, e.g. ``place_order``); a path none of them matches gets
    ``default``. Addresses in ``exempt`` are not
    limited (e.g. a load generator's range); ``trusted`` are the proxies whose
    ``X-Forwarded-For`` is believed.
    """

    def __init__(
        self,
        app: ASGIApp,
        buckets: SharedBuckets,
        default: Rate | None,
        routes: Sequence[tuple[BaseRoute, Rate | None, str]],
        trusted: tuple[Network, ...],
        exempt: tuple[Network, ...] = (),
        prefix: str = "/api/",
    ) -> None:
        self.app = app
        self.buckets = buckets
        self.default = default
        self.routes = list(routes)
        self.trusted = trusted
        self.exempt = exempt
        self.prefix = prefix
        # (method, path) -> (rate, name): a request's route without trying every route's
        # pattern again (a drop's order path is one path for thousands of requests).
        self._matched: dict[tuple[str, str], tuple[Rate | None, str]] = {}

    def _route_of(self, scope: Scope) -> tuple[Rate | None, str]:
        key = (scope["method"], scope["path"])
        found = self._matched.get(key)
        if found is None:
            found = self.default, "_other"
            for route, route_rate, route_name in self.routes:
                if route.matches(scope)[0] is Match.FULL:
                    found = route_rate, route_name
                    break
            if len(self._matched) >= MAX_MATCHED:
                self._matched.clear()
            self._matched[key] = found
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        rate, name = self._route_of(scope)
        if rate is not None:
            ip = client_ip(scope, self.trusted)
            if not in_networks(ip, self.exempt):
                wait = self.buckets.take(bucket_key(name, ip), rate)
                if wait > 0:
                    exc = RateLimited(wait)
                    response = problem_response(
                        exc.status,
                        exc.code,
                        exc.title,
                        exc.detail,
                        headers=exc.headers,
                        **exc.extra,
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
