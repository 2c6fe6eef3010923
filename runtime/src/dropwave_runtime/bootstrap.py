"""One way to wire a service: a list of what it runs, and its dependencies by name.

Each service's ``bootstrap.py`` declares a :class:`Service`: its routers, the handler of
each event it consumes, its background jobs (periodic rounds and long-running workers) and
its CLI commands. Its ``bootstrap(settings, **overrides)`` builds the dependencies (Stripe
gateway, limiters, mailers…) and calls :meth:`ServiceRuntime.wire`. Handlers and jobs name
what they need as keyword parameters and get it injected by name, as Cosmic Python's
``bootstrap.inject_dependencies`` does; routes get the same objects with
:func:`provided`. A name nobody provides fails at start-up, not at the first event.

Every handler and job can also ask for ``runtime``, ``db`` and ``settings``.
"""

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from dropwave_contracts.envelope import Event
from fastapi import APIRouter, Depends, Request, Response

from .consumer import Batched
from .settings import ServiceSettings

if TYPE_CHECKING:
    from .cli import Command

S = TypeVar("S", bound=ServiceSettings)
T = TypeVar("T")


JobRole = Literal["api", "worker"]
"""Which processes run a job (``serve --role``; ``all`` runs every job)."""


@dataclass(frozen=True)
class Periodic:
    """A round run every ``interval()`` seconds for the life of the process
    (``periodic.every``: a failing round is logged at ``level`` and the job goes on). Both
    get their dependencies by name: ``interval=lambda settings: settings.poll_s``."""

    name: str
    round: Callable[..., Awaitable[object]]
    interval: Callable[..., float]
    first_at_start: bool = True
    jitter: float = 0.0
    level: int = logging.ERROR
    role: JobRole = "worker"
    """``api`` for a job the HTTP requests of this process depend on (e.g. reloading an
    in-memory lockout list); ``worker`` for background work."""


@dataclass(frozen=True)
class Worker:
    """A long-running task (a queue drainer, a listener) run for the life of the process."""

    name: str
    run: Callable[..., Awaitable[None]]
    role: JobRole = "worker"
    """``api`` for a task the HTTP requests of this process depend on (e.g. the listener
    that feeds its live streams); ``worker`` for background work."""


Job = Periodic | Worker


@dataclass(frozen=True)
class Service(Generic[S]):
    """Everything a service runs, in one place: the catalogue a newcomer reads first."""

    name: str
    title: str
    settings: Callable[[], S]
    migrations: Path
    routers: Sequence[APIRouter] = ()
    events: Mapping[type[Event], Callable[..., Awaitable[None]] | Batched] = field(
        default_factory=dict
    )
    """Each event type's handler: ``handler(event, uow, **deps)``, or
    ``Batched(handler)`` for ``handler(events, uow, **deps)`` taking a run of them."""
    jobs: Sequence[Job] = ()
    commands: Mapping[str, "Command"] = field(default_factory=dict)
    webhook_prefixes: Sequence[str] = ()
    """Routes of signed provider callbacks (their own body size and rate limits)."""
    rate_limited_prefix: str = "/api/"
    """The paths whose requests spend the per-client, per-route budgets (README "Limits"):
    the API; a service serving pages limits them too (``"/"``)."""
    route_rates: Mapping[str, str] = field(default_factory=dict)
    """The service's own default budget of a route (its endpoint's name -> ``"N/min"``),
    for routes that need more than ``RATE_LIMIT_DEFAULT``; ``RATE_LIMITS`` still wins."""
    direct_routes: Sequence[Callable[[Request], Awaitable[Response]]] = ()
    """Hot endpoints (taking the ``Request`` alone) served below the service's middlewares
    without FastAPI's routing and request handling (``direct_routes.py``)."""


class MissingDependency(TypeError):
    """A handler or job names a dependency the bootstrap does not provide."""


def inject(
    fn: Callable[..., T], deps: Mapping[str, object], *, leading: int = 0
) -> Callable[..., T]:
    """``fn`` with its parameters after the first ``leading`` ones bound from ``deps`` by
    name (a parameter with a default may be left out of ``deps``); fails fast on a name
    nobody provides."""
    params = list(inspect.signature(fn).parameters.values())[leading:]
    bound: dict[str, object] = {}
    for p in params:
        if p.name in deps:
            bound[p.name] = deps[p.name]
        elif p.default is inspect.Parameter.empty and p.kind not in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ):
            name = getattr(fn, "__qualname__", repr(fn))
            raise MissingDependency(f"{name} needs {p.name!r}; the bootstrap does not provide it")
    return functools.partial(fn, **bound) if bound else fn


def provided(name: str) -> Any:
    """A route's dependency on an object the bootstrap provides (``wire(..., name=obj)``):
    ``gateway: Annotated[StripeGateway, provided("gateway")]``."""

    async def get(request: Request) -> object:
        return request.app.state.deps[name]

    get.__name__ = f"provided_{name}"
    return Depends(get)
