"""The emulator's process: localstripe with our patches (:mod:`.patches`), on one address.

The store stays in memory (or, with ``--store PATH``, is persisted atomically to ``PATH``;
see :mod:`.store`), and the server binds to the given address, IPv4 by default (upstream
binds ``::``, which fails where IPv6 is disabled).

    python -m dropwave_devstack.stripe_emulator.launcher --port 8420 [--host 127.0.0.1]
        [--store PATH] [--from-scratch]
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from pathlib import Path

from . import patches

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dropwave_devstack.stripe_emulator.launcher")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--store", type=Path, default=None, help="persist the store here")
    parser.add_argument("--from-scratch", action="store_true", help="ignore a persisted store")
    args = parser.parse_args(argv)

    # Before the server module is imported: it builds its routes on import.
    patches.apply(f"http://{args.host}:{args.port}", args.store)

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
    access.propagate = False  # one line per request (the root handler would repeat it)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)

    print(f"localstripe listening on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    web.run_app(server.app, sock=sock, access_log=access, print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
