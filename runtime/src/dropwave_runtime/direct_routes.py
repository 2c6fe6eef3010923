"""Direct routes: a hot endpoint served without FastAPI's routing and request handling.

A drop's order endpoint takes thousands of requests a second in one process. Below the
service's middlewares, FastAPI's exception middleware, its router (an included router is
matched twice per request) and its request handler cost about a fifth of an order's CPU
(ADR 0001, fourth round). A route a service lists in ``Service.direct_routes`` is still
declared with FastAPI (its OpenAPI entry, its name for limits and metrics) and still goes
through every middleware of the service (request context, rate limits, body limit,
unhandled errors). At the bottom of that stack, :class:`DirectRoutes` matches its path
and method, calls the endpoint with the ``Request`` and answers the endpoint's exceptions
with the app's own exception handlers, as FastAPI's exception middleware would. Every
other request goes on to FastAPI unchanged (a known path with another method too: FastAPI
answers its 405).

An endpoint served directly takes only the ``Request`` and returns a ``Response``, so
nothing FastAPI would have done for it is skipped; :func:`direct_route` checks that at
start-up.
"""

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["DirectEndpoint", "DirectRoutes", "direct_route", "leaf_routes"]

DirectEndpoint = Callable[[Request], Awaitable[Response]]
ExceptionHandler = Callable[[Request, Any], Response | Awaitable[Response]]
ExceptionHandlers = Mapping[Any, ExceptionHandler]


def direct_route(endpoint: DirectEndpoint, routes: Sequence[BaseRoute]) -> APIRoute:
    """The one route of ``routes`` whose endpoint this is; fails fast (at wiring) when
    there is none, or when the endpoint asks FastAPI for anything but the ``Request``."""
    found = [r for r in routes if isinstance(r, APIRoute) and r.endpoint is endpoint]
    name = getattr(endpoint, "__qualname__", repr(endpoint))
    if len(found) != 1:
        raise ValueError(f"direct route {name}: {len(found)} routes have it as endpoint, not 1")
    params = list(inspect.signature(endpoint).parameters.values())
    if len(params) != 1 or params[0].annotation not in (Request, "Request"):
        raise ValueError(f"direct route {name} must take the Request alone")
    if found[0].dependencies:
        raise ValueError(f"direct route {name} has dependencies: it needs FastAPI")
    return found[0]


def leaf_routes(routers: Sequence[APIRouter]) -> list[BaseRoute]:
    """The routes of these routers in matching order, nested routers' too (each knows its
    full path)."""
    out: list[BaseRoute] = []
    for router in routers:
        for route in router.routes:
            nested = getattr(route, "original_router", None)
            out += leaf_routes([nested]) if isinstance(nested, APIRouter) else [route]
    return out


MAX_DECIDED = 10_000
"""(method, path) pairs whose route :class:`DirectRoutes` remembers (a drop is one path)."""


class DirectRoutes:
    """Pure ASGI, the innermost of a service's middlewares: serves ``routes`` itself.

    A request goes to a direct route only where FastAPI would have sent it: the route
    matches, and no route before it in the app's order does (a catch-all ``/{slug}`` must
    not answer ``/healthz``). The decision is remembered per method and path."""

    def __init__(
        self,
        app: ASGIApp,
        routes: Sequence[APIRoute],
        handlers: ExceptionHandlers,
        router: APIRouter,
    ) -> None:
        self.app = app
        order = leaf_routes([router])  # built at the first request: every router included
        # Plain Starlette routes match exactly as FastAPI's (same path template, methods).
        self.routes = [
            (
                Route(r.path, r.endpoint, methods=list(r.methods or ())),
                r,
                order[: next(i for i, o in enumerate(order) if o is r)],
            )
            for r in routes
        ]
        self.handlers = handlers  # the app's dict: handlers installed later are seen too
        self._decided: dict[tuple[str, str], int | None] = {}

    def _decide(self, scope: Scope) -> int | None:
        for i, (plain, _, before) in enumerate(self.routes):
            if plain.matches(scope)[0] is Match.FULL:
                if any(other.matches(scope)[0] is Match.FULL for other in before):
                    return None
                return i
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = (scope["method"], scope["path"])
        if key in self._decided:
            chosen = self._decided[key]
        else:
            chosen = self._decide(scope)
            if len(self._decided) >= MAX_DECIDED:
                self._decided.clear()
            self._decided[key] = chosen
        if chosen is None:
            await self.app(scope, receive, send)
            return
        plain, route, _ = self.routes[chosen]
        scope.update(plain.matches(scope)[1])
        scope["route"] = route  # the metrics' label, as FastAPI sets it
        await self._serve(route.endpoint, scope, receive, send)

    async def _serve(
        self, endpoint: DirectEndpoint, scope: Scope, receive: Receive, send: Send
    ) -> None:
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise  # to UnhandledErrors, above: the 500 problem
            answer = handler(request, exc)
            response = await answer if inspect.isawaitable(answer) else answer
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> ExceptionHandler | None:
        """Starlette's lookup: an HTTP error's status first, then the exception's classes."""
        if isinstance(exc, HTTPException) and exc.status_code in self.handlers:
            return self.handlers[exc.status_code]
        for cls in type(exc).__mro__:
            if cls in self.handlers:
                return self.handlers[cls]
        return None
