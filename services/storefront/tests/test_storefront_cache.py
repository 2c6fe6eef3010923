"""The page cache alone: one load for many waiting views, a TTL, and a load that an
invalidation overtook is not kept."""

import asyncio

from storefront.cache import PageCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_single_flight_ttl_and_invalidation_during_a_load() -> None:
    version = 0
    gate = asyncio.Event()

    async def load(slug: str) -> str:
        await gate.wait()
        return f"{slug}@{version}"

    clock = Clock()
    cache: PageCache[str] = PageCache(load, ttl_s=5, max_entries=2, clock=clock)
    views = [asyncio.create_task(cache.get("a")) for _ in range(50)]
    await asyncio.sleep(0)
    version = 1
    cache.invalidate("a")  # the row changed while the first load was reading it
    gate.set()
    assert set(await asyncio.gather(*views)) == {"a@1"}  # served, then...
    assert cache.loads == 1
    assert await cache.get("a") == "a@1"
    assert cache.loads == 2  # ...not kept: the next view loads again
    assert await cache.get("a") == "a@1"
    assert cache.loads == 2
    clock.now += 5
    assert await cache.get("a") == "a@1"
    assert cache.loads == 3  # expired
    await cache.get("b")
    await cache.get("c")  # at most two entries: the oldest goes
    assert await cache.get("a") == "a@1"
    assert cache.loads == 6
    cache.clear()
    await cache.get("c")
    assert cache.loads == 7
