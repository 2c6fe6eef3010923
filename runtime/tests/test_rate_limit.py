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


async def test_blocks_reserved_by_two_instances_never_exceed_the_rate(
    limiter_db_url: str,
) -> None:
    """Blocks of several slots (one upsert each), reserved by two engines at once and mixed
    with single acquisitions, hand out every slot at the shared pace: 60 grants at 50/s take
    at least 59 intervals and no 10 consecutive grants come faster than 10 intervals."""
    rate, blocks = 50.0, [7, 1, 12, 5, 1, 9, 3, 8, 10, 4]  # 60 slots
    dbs = [Database(limiter_db_url, "runtime-tests", pool_size=4) for _ in range(2)]
    limiters = [PgRateLimiter(db.engine, "stripe-blocks", rate) for db in dbs]
    granted: list[float] = []

    async def use(limiter: PgRateLimiter, n: int) -> None:
        block = await limiter.reserve_block(n)
        assert len(block) == n

        async def one() -> None:
            await block.acquire()
            granted.append(time.monotonic())

        await asyncio.gather(*(one() for _ in range(n)))
        assert len(block) == 0
        with pytest.raises(IndexError):
            await block.acquire()  # a block hands out exactly what it reserved

    try:
        t0 = time.monotonic()
        await asyncio.gather(*(use(limiters[i % 2], n) for i, n in enumerate(blocks)))
        elapsed = time.monotonic() - t0
    finally:
        for db in dbs:
            await db.dispose()
    total = sum(blocks)
    assert len(granted) == total
    assert elapsed >= (total - 1) / rate * 0.95, elapsed
    assert elapsed < (total - 1) / rate + 2.0, elapsed
    granted.sort()
    windows = [granted[i + 10] - granted[i] for i in range(len(granted) - 10)]
    assert min(windows) >= 10 / rate - 0.08, min(windows)


async def test_a_block_follows_single_slots_without_overlap(limiter_db_url: str) -> None:
    """A block starts where the row's last reservation ended and moves it by all its slots."""
    db = Database(limiter_db_url, "runtime-tests", pool_size=2)
    limiter = PgRateLimiter(db.engine, "block-order", rate_per_s=10)
    try:
        assert await limiter.reserve() < 0.05
        block = await limiter.reserve_block(5)  # slots at ~0.1, 0.2, ... 0.5 s
        after = await limiter.reserve()  # the row moved by five intervals
        with pytest.raises(ValueError, match="n must be"):
            await limiter.reserve_block(0)
    finally:
        await db.dispose()
    assert 0.5 < after <= 0.61, after
    t0 = time.monotonic()
    await block.acquire()
    await block.acquire()
    assert 0.1 < time.monotonic() - t0 < 0.35


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
