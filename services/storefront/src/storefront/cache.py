"""Rendered pages in memory, per process and per slug: a viral drop's views cost no query.

An entry is dropped when the storefront's handlers change its campaign (they ``NOTIFY``
:data:`CHANNEL` with the slug in their transaction; every instance listens, see
``jobs.py``) and expires after ``ttl_s`` anyway (a notification lost while the listener
reconnects; a deadline passing). A miss loads once however many requests wait for it
(single flight), and a load that an invalidation overtook is served but not kept.
"""

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["CHANNEL", "PageCache"]

CHANNEL = "storefront_pages"
"""The NOTIFY channel; the payload is the changed campaign's slug."""

T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    value: T
    expires: float


@dataclass
class _Flight(Generic[T]):
    task: "asyncio.Task[T]"
    stale: bool = False


class PageCache(Generic[T]):
    def __init__(
        self,
        load: Callable[[str], Coroutine[Any, Any, T]],
        ttl_s: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, _Entry[T]] = {}
        self._flights: dict[str, _Flight[T]] = {}
        self.loads = 0
        """Loads started (each one database query): for tests and the bench."""

    async def get(self, slug: str) -> T:
        entry = self._entries.get(slug)
        if entry is not None and entry.expires > self._clock():
            return entry.value
        flight = self._flights.get(slug)
        if flight is None:
            flight = self._start(slug)
        # Shielded: a client that goes away does not cancel the load the others wait for.
        return await asyncio.shield(flight.task)

    def invalidate(self, slug: str) -> None:
        """``slug`` changed: forget it, and do not keep a load already under way."""
        self._entries.pop(slug, None)
        if (flight := self._flights.get(slug)) is not None:
            flight.stale = True

    def clear(self) -> None:
        """Forget everything (the listener (re)connected: changes may have been missed)."""
        self._entries.clear()
        for flight in self._flights.values():
            flight.stale = True

    def _start(self, slug: str) -> _Flight[T]:
        self.loads += 1
        flight: _Flight[T] = _Flight(asyncio.get_running_loop().create_task(self._load(slug)))
        self._flights[slug] = flight
        flight.task.add_done_callback(lambda _: self._landed(slug, flight))
        return flight

    def _landed(self, slug: str, flight: _Flight[T]) -> None:
        if self._flights.get(slug) is flight:
            del self._flights[slug]
        if flight.task.cancelled() or flight.task.exception() is not None or flight.stale:
            return
        if len(self._entries) >= self.max_entries and slug not in self._entries:
            now = self._clock()
            for key in [k for k, e in self._entries.items() if e.expires <= now]:
                del self._entries[key]
            while len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]  # the oldest
        self._entries[slug] = _Entry(flight.task.result(), self._clock() + self.ttl_s)
