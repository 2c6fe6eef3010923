"""The shared PostgreSQL rate limiter (GCRA) on a real database: one budget across engines
(as several instances would have), burst then pacing. Moved here from payments' tests with
the limiter itself."""

import asyncio
import time

import pytest
from dropwave_runtime.db import Database
from dropwave_runtime.rate_limit import PgRateLimiter


async def test_limiter_paces_requests_across_two_processes(limiter_db_url: str) -> None:
    """Two engines (as two instances would have) share one limit: 40 acquisitions at 50/s
    take at least 39 intervals, and no 10 consecutive grants come faster than 10 intervals."""
    rate, n = 50.0, 40
    dbs = [Database(limiter_db_url, "runtime-tests", pool_size=4) for _ in range(2)]
    limiters = [PgRateLimiter(db.engine, "stripe-test", rate) for db in dbs]
    granted: list[float] = []

    async def take(limiter: PgRateLimiter) -> None:
        await limiter.acquire()
        granted.append(time.monotonic())

    try:
        t0 = time.monotonic()
        await asyncio.gather(*(take(limiters[i % 2]) for i in range(n)))
        elapsed = time.monotonic() - t0
    finally:
        for db in dbs:
            await db.dispose()
    assert elapsed >= (n - 1) / rate * 0.95, elapsed
    assert elapsed < (n - 1) / rate + 2.0, elapsed
    granted.sort()
    windows = [granted[i + 10] - granted[i] for i in range(len(granted) - 10)]
    # client-side jitter (pool, scheduling) aside, never twice the rate
    assert min(windows) >= 10 / rate - 0.08, min(windows)


async def test_limiter_burst_then_paced(limiter_db_url: str) -> None:
    db = Database(limiter_db_url, "runtime-tests", pool_size=2)
    limiter = PgRateLimiter(db.engine, "burst-test", rate_per_s=2, burst=5)
    try:
        waits = [await limiter.reserve() for _ in range(7)]  # reserved, not waited for
    finally:
        await db.dispose()
    assert all(w < 0.05 for w in waits[:5]), waits
    assert 0.3 < waits[5] <= 0.51, waits
    assert 0.8 < waits[6] <= 1.01, waits


async def test_limiters_by_name_are_independent(limiter_db_url: str) -> None:
    """One row per name: the email budget does not eat the SMS budget."""
    db = Database(limiter_db_url, "runtime-tests", pool_size=2)
    email = PgRateLimiter(db.engine, "email:smtp", rate_per_s=1)
    sms = PgRateLimiter(db.engine, "sms:twilio", rate_per_s=1)
    try:
        assert await email.reserve() < 0.05
        assert await email.reserve() > 0.9  # the email budget is spent for a second
        assert await sms.reserve() < 0.05  # ... the SMS one is not
    finally:
        await db.dispose()


def test_bad_settings_are_refused() -> None:
    for bad in ({"rate_per_s": 0}, {"rate_per_s": 1, "burst": 0}):
        with pytest.raises(ValueError, match="rate_per_s must be"):
            PgRateLimiter(None, "x", **bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name must be"):
        PgRateLimiter(None, "", 1)  # type: ignore[arg-type]
