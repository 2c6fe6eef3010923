"""The emulator's store: in memory (or one file of our own), indexed by object type.

Upstream localstripe pickles its *whole* store to ``/tmp/localstripe.pickle`` after every
write: concurrent instances (parallel test workers, two dev stacks) all write that one file,
and the rewrite makes it slower with every object created. Here the store stays in memory
(or, with a ``store_path``, is persisted atomically to that file instead).

Upstream also lists objects by scanning the whole store, and every exported charge lists its
refunds three times, so each PaymentIntent response cost O(all objects) and throughput fell
with every object created: here the store keeps an index by object type.

Nothing here touches localstripe: :mod:`.patches` installs what :func:`build` returns.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localstripe.errors import UserError

__all__ = ["StoreExtension", "build"]


@dataclass(frozen=True)
class StoreExtension:
    """Replacements for ``localstripe.resources.Store``'s methods and the list query."""

    reindex: Callable[[Any], None]
    setitem: Callable[[Any, str, Any], None]
    delitem: Callable[[Any, str], None]
    clear: Callable[[Any], None]
    list_all: Callable[..., Any]
    dump_to_disk: Callable[[Any], None]
    try_load_from_disk: Callable[[Any], None]


def build(r: Any, store_path: Path | None) -> StoreExtension:
    """The store's replacements, persisting to ``store_path`` (``None``: memory only)."""
    by_type: dict[str, dict[str, Any]] = {}

    def reindex(self: Any) -> None:
        by_type.clear()
        for key, value in dict.items(self):
            by_type.setdefault(key.split(":", 1)[0], {})[key] = value

    def setitem(self: Any, key: str, value: Any) -> None:
        dict.__setitem__(self, key, value)
        by_type.setdefault(key.split(":", 1)[0], {})[key] = value
        self.dump_to_disk()

    def delitem(self: Any, key: str) -> None:
        dict.__delitem__(self, key)
        by_type.get(key.split(":", 1)[0], {}).pop(key, None)
        self.dump_to_disk()

    def clear(self: Any) -> None:
        dict.clear(self)
        by_type.clear()

    def list_all(
        cls: Any,
        /,
        url: Any,
        limit: Any = None,
        starting_after: Any = None,
        created: Any = None,
        **kwargs: Any,
    ) -> Any:
        # Same as upstream StripeObject._api_list_all, minus the scan of the whole store,
        # plus Stripe's ``created[gte|gt|lte|lt]=<unix time>`` filter.
        if kwargs:
            raise r.UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
        li = r.List(url, limit=limit, starting_after=starting_after)
        li._list = [o for o in by_type.get(cls.object, {}).values() if created_in(o, created)]
        return li

    def dump_to_disk(self: Any) -> None:
        if store_path is None:
            return
        tmp = store_path.with_name(f".{store_path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            pickle.dump(dict(self), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, store_path)

    def try_load_from_disk(self: Any) -> None:
        if store_path is None:
            return
        try:
            with open(store_path, "rb") as f:
                old = pickle.load(f)  # noqa: S301 - our own file in our own data dir
        except FileNotFoundError:
            return
        dict.clear(self)
        dict.update(self, old)
        reindex(self)

    return StoreExtension(
        reindex=reindex,
        setitem=setitem,
        delitem=delitem,
        clear=clear,
        list_all=list_all,
        dump_to_disk=dump_to_disk,
        try_load_from_disk=try_load_from_disk,
    )


_COMPARE = {
    "gte": lambda a, b: a >= b,
    "gt": lambda a, b: a > b,
    "lte": lambda a, b: a <= b,
    "lt": lambda a, b: a < b,
}


def created_in(obj: Any, created: Any) -> bool:
    """Whether ``obj.created`` passes a list's ``created`` filter (a dict of bounds)."""
    if created is None:
        return True
    if not isinstance(created, dict) or not set(created) <= set(_COMPARE):
        raise UserError(400, "Invalid created filter", {"param": "created"})
    return all(_COMPARE[op](obj.created, int(bound)) for op, bound in created.items())
