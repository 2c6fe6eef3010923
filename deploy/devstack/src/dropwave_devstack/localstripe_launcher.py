"""Run localstripe with its hard-coded ``/tmp/localstripe.pickle`` store file patched out.

Upstream localstripe pickles its *whole* store to ``/tmp/localstripe.pickle`` after every
write: concurrent instances (parallel test workers, two dev stacks) all write that one file,
and the rewrite makes it slower with every object created. This launcher keeps the store in
memory (or, with ``--store PATH``, persists it atomically to ``PATH`` instead), and binds to
an IPv4 address (upstream binds ``::``, which fails where IPv6 is disabled).

It also indexes the store by object type: upstream lists objects by scanning the whole store,
and every exported charge lists its refunds three times, so each PaymentIntent response cost
O(all objects) and throughput fell with every object created.

It also extends the emulator where it lacks what Stripe documents and we use (one place
for every such extension, so production code is never bent around the emulator):
``automatic_payment_methods`` on PaymentIntents is accepted and ignored (the emulator only
has cards, so ignoring it is faithful); ``Idempotency-Key`` is honoured like Stripe does
(same key and parameters: the first answer replayed; other parameters: 400
``idempotency_error``; keys kept 24 h).

    python -m dropwave_devstack.localstripe_launcher --port 8420 [--host 127.0.0.1]
        [--store PATH] [--from-scratch]
"""

from __future__ import annotations

import argparse
import logging
import os
import pickle
import socket
import sys
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _patch_store(store_path: Path | None) -> None:
    from localstripe import resources

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
        cls: Any, /, url: Any, limit: Any = None, starting_after: Any = None, **kwargs: Any
    ) -> Any:
        # Same as upstream StripeObject._api_list_all, minus the scan of the whole store.
        if kwargs:
            raise resources.UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
        li = resources.List(url, limit=limit, starting_after=starting_after)
        li._list = list(by_type.get(cls.object, {}).values())
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

    resources.Store.dump_to_disk = dump_to_disk
    resources.Store.try_load_from_disk = try_load_from_disk
    resources.Store.__setitem__ = setitem
    resources.Store.__delitem__ = delitem
    resources.Store.clear = clear
    resources.StripeObject._api_list_all = classmethod(list_all)
    reindex(resources.store)


def _extend_emulator() -> None:
    """Accept documented PaymentIntent parameters localstripe 1.15 rejects."""
    from localstripe import resources

    original_init = resources.PaymentIntent.__init__

    def init(self: Any, *args: Any, automatic_payment_methods: Any = None, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)

    resources.PaymentIntent.__init__ = init
    _honour_idempotency_keys()


IDEMPOTENCY_TTL_S = 24 * 3600
"""Stripe prunes idempotency keys after 24 hours."""


def _honour_idempotency_keys() -> None:
    """Honour ``Idempotency-Key`` on POSTs like Stripe (localstripe ignores it).

    Per API key (and ``Stripe-Account``): the first request's answer is stored; the same key
    with the same method, path and parameters gets that answer replayed (with
    ``Idempotent-Replayed: true``) without executing again; the same key with anything else
    is a 400 ``idempotency_error``; while the first request still runs, a 409. Answers that
    did not execute (401, 409, 429, 5xx) are not stored, as on Stripe. Keys expire after
    24 hours.
    """
    import hashlib
    import time

    from aiohttp import web
    from localstripe import server

    stored: dict[tuple[str, str], tuple[float, str, int, bytes, str]] = {}
    in_flight: set[tuple[str, str]] = set()

    def error(status: int, message: str) -> web.Response:
        body = {"error": {"type": "idempotency_error", "message": message}}
        return web.json_response(body, status=status)

    @web.middleware
    async def idempotency(request: web.Request, handler: Any) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key or request.path.startswith("/_config/"):
            response: web.StreamResponse = await handler(request)
            return response
        headers = request.headers
        scope = f"{headers.get('Authorization', '')}|{headers.get('Stripe-Account', '')}"
        slot = (scope, key)
        body = await request.read()
        fingerprint = hashlib.sha256(
            f"{request.method} {request.path_qs}\n".encode() + body
        ).hexdigest()
        now = time.monotonic()
        while stored and next(iter(stored.values()))[0] < now - IDEMPOTENCY_TTL_S:
            del stored[next(iter(stored))]
        if slot in stored:
            _, first, status, payload, content_type = stored[slot]
            if first != fingerprint:
                return error(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with.",
                )
            replay = web.Response(status=status, body=payload, content_type=content_type)
            replay.headers["Idempotent-Replayed"] = "true"
            replay.headers["Idempotency-Key"] = key
            return replay
        if slot in in_flight:
            return error(409, "There is currently another in-progress request using this key.")
        in_flight.add(slot)
        try:
            response = await handler(request)
        finally:
            in_flight.discard(slot)
        status = response.status
        if (
            isinstance(response, web.Response)
            and isinstance(response.body, bytes)
            and status < 500
            and status not in (401, 409, 429)
        ):
            content_type = response.content_type or "application/json"
            stored[slot] = (now, fingerprint, status, response.body, content_type)
        response.headers["Idempotency-Key"] = key
        return response

    server.app.middlewares.insert(0, idempotency)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dropwave_devstack.localstripe_launcher")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--store", type=Path, default=None, help="persist the store here")
    parser.add_argument("--from-scratch", action="store_true", help="ignore a persisted store")
    args = parser.parse_args(argv)

    _patch_store(args.store)
    # Connect, off-session payments, refund limits (before the server module builds its routes).
    from . import localstripe_connect

    localstripe_connect.base_url = f"http://{args.host}:{args.port}"
    localstripe_connect.install()
    _extend_emulator()

    from aiohttp import web
    from localstripe import resources, server

    if args.store is not None and not args.from_scratch:
        resources.store.try_load_from_disk()

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))

    access = logging.getLogger("aiohttp.access")
    access.setLevel(logging.DEBUG)
    access.addHandler(logging.StreamHandler())
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)

    print(f"localstripe listening on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    web.run_app(server.app, sock=sock, access_log=access, print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
