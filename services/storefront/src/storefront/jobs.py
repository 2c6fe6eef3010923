"""The storefront's one background job: the listener that keeps the page cache current."""

from dropwave_runtime.db import Database
from dropwave_runtime.listen import listen

from .cache import CHANNEL
from .pages import Storefront


async def page_cache_listener(db: Database, storefront: Storefront) -> None:
    """Drop a page when the handlers of any instance change it; drop them all on every
    (re)connect, since what was notified meanwhile is lost."""
    cache = storefront.cache
    await listen(db, CHANNEL, cache.invalidate, on_connect=cache.clear, on_lost=cache.clear)
