"""A fault-injecting HTTP proxy for tests and benchmarks: put it between a service and an
emulator (e.g. localstripe) on 127.0.0.1 and it answers some requests with a fault.

Fault kinds (each a probability per request, drawn from a seeded RNG):

* ``error_500``: a 500 ``api_error`` without forwarding (Stripe's transient server error);
* ``error_429``: a 429 ``rate_limit`` without forwarding;
* ``hang``: the request is not forwarded and no answer comes for ``hang_s`` seconds (set it
  past the client's timeout), then the connection is closed;
* ``drop_response``: the request *is* forwarded and the emulator acts on it, then the
  connection is closed without an answer: "a response lost after the emulator acted".

Only requests whose ``METHOD path`` matches ``FaultPlan.match`` are faulted. Every exchange
is recorded (:attr:`FaultProxy.exchanges`), with the upstream status and whether the
upstream replayed an idempotent answer (``Idempotent-Replayed: true``), so a test can count
how many times the emulator really *executed* a call (:meth:`FaultProxy.executed`).

    async with FaultProxy(upstream, FaultPlan(drop_response=0.3, match=r"/capture$")) as p:
        gateway = StripeGateway(key, api_base=p.base_url, timeout_s=1)
"""

from __future__ import annotations

import asyncio
import random
import re
import socket
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self, TypeVar

from aiohttp import ClientSession, ClientTimeout, web

__all__ = ["BackgroundFaultProxy", "Exchange", "FaultPlan", "FaultProxy"]

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "host",
        "upgrade",
    }
)
KINDS = ("error_500", "error_429", "hang", "drop_response")
T = TypeVar("T")


@dataclass
class FaultPlan:
    """Per-request fault probabilities (their sum at most 1) and which requests they hit."""

    error_500: float = 0.0
    error_429: float = 0.0
    hang: float = 0.0
    drop_response: float = 0.0
    match: str = r".*"
    """Regex searched in ``"METHOD /path"``; only matching requests are faulted."""
    seed: int | None = 0

    def __post_init__(self) -> None:
        total = self.error_500 + self.error_429 + self.hang + self.drop_response
        if total > 1 or min(self.error_500, self.error_429, self.hang, self.drop_response) < 0:
            raise ValueError("fault probabilities must be >= 0 and sum to at most 1")


@dataclass
class Exchange:
    """One request through the proxy."""

    method: str
    path: str
    fault: str | None
    upstream_status: int | None = None
    """``None``: not forwarded (or the upstream did not answer)."""
    replayed: bool = False


@dataclass
class FaultProxy:
    """The proxy; an async context manager (``start()`` / ``stop()``)."""

    upstream: str
    plan: FaultPlan = field(default_factory=FaultPlan)
    hang_s: float = 30.0
    host: str = "127.0.0.1"
    port: int = 0
    exchanges: list[Exchange] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.upstream = self.upstream.rstrip("/")
        self._rng = random.Random(self.plan.seed)
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def set_plan(self, plan: FaultPlan) -> None:
        """Switch faults on the fly (e.g. off before checking the emulator's state)."""
        self.plan = plan
        self._rng = random.Random(plan.seed)

    def faults(self) -> Counter[str]:
        """How many faults of each kind were injected."""
        return Counter(e.fault for e in self.exchanges if e.fault)

    def executed(self, pattern: str) -> Counter[str]:
        """Per path matching ``pattern``: how many requests the upstream executed (answered
        2xx without replaying a stored idempotent answer)."""
        rx = re.compile(pattern)
        return Counter(
            e.path
            for e in self.exchanges
            if rx.search(f"{e.method} {e.path}")
            and e.upstream_status is not None
            and 200 <= e.upstream_status < 300
            and not e.replayed
        )

    async def start(self) -> None:
        self._session = ClientSession(timeout=ClientTimeout(total=60), auto_decompress=False)
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _draw(self, method: str, path: str) -> str | None:
        if not re.search(self.plan.match, f"{method} {path}"):
            return None
        x = self._rng.random()
        for kind in KINDS:
            p: float = getattr(self.plan, kind)
            if x < p:
                return kind
            x -= p
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        fault = self._draw(request.method, request.path)
        exchange = Exchange(request.method, request.path, fault)
        self.exchanges.append(exchange)
        if fault == "error_500":
            return _stripe_error(500, "api_error", "An error occurred with our API (injected).")
        if fault == "error_429":
            return _stripe_error(429, "rate_limit_error", "Too many requests (injected).")
        if fault == "hang":
            await asyncio.sleep(self.hang_s)
            _drop(request)
            return web.Response(status=504)
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        assert self._session is not None
        async with self._session.request(
            request.method,
            f"{self.upstream}{request.path_qs}",
            headers=headers,
            data=body,
            allow_redirects=False,
        ) as upstream:
            payload = await upstream.read()
            exchange.upstream_status = upstream.status
            exchange.replayed = upstream.headers.get("Idempotent-Replayed") == "true"
            out_headers = {
                k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP
            }
        if fault == "drop_response":
            _drop(request)
            return web.Response(status=502)
        return web.Response(status=upstream.status, body=payload, headers=out_headers)


def _stripe_error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response({"error": {"type": kind, "message": message}}, status=status)


def _drop(request: web.Request) -> None:
    """Close the client's connection without an answer."""
    transport = request.transport
    if transport is not None:
        transport.abort()


class BackgroundFaultProxy:
    """A :class:`FaultProxy` on its own event loop in a daemon thread, for synchronous code
    (the dev stack puts one between payments and the emulator; e2e tests switch faults on
    with :meth:`set_plan`). Faults are off (an empty plan) until asked for."""

    def __init__(self, upstream: str, hang_s: float = 30.0) -> None:
        self.proxy = FaultProxy(upstream, hang_s=hang_s)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="dropwave-fault-proxy", daemon=True
        )

    @property
    def base_url(self) -> str:
        return self.proxy.base_url

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self._loop).result(timeout=10)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.proxy.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def set_plan(self, plan: FaultPlan) -> None:
        self._loop.call_soon_threadsafe(self.proxy.set_plan, plan)

    def clear(self) -> None:
        """No more faults (requests pass through)."""
        self.set_plan(FaultPlan())

    def executed(self, pattern: str) -> Counter[str]:
        future = asyncio.run_coroutine_threadsafe(_call(self.proxy.executed, pattern), self._loop)
        return future.result(timeout=10)

    def faults(self) -> Counter[str]:
        return asyncio.run_coroutine_threadsafe(_call(self.proxy.faults), self._loop).result(10)


async def _call(fn: Callable[..., T], *args: object) -> T:
    """Run ``fn`` on the proxy's loop (its state is only touched there)."""
    return fn(*args)
