"""One service process: HTTP app, Kafka consumer, outbox relay, health and metrics, wired once.

Services declare their settings, routers and event handlers; this module owns the
lifecycle. Nothing connects at import or construction time: connections open in the
FastAPI lifespan and close on shutdown.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import replace
from typing import Annotated, Any, Generic, TypeVar, cast

from dropwave_contracts.envelope import Event
from dropwave_contracts.topics import dead_letter_topic, topic_for
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .body_limit import BodyLimit
from .bootstrap import Job, JobRole, Periodic, Service, inject
from .consumer import Batched, EventConsumer, Handler, Record
from .db import Database, DatabaseTimeouts, UnitOfWork, database_unavailable
from .direct_routes import DirectEndpoint, DirectRoutes, direct_route, leaf_routes
from .http_limits import Rate, RateLimited, RouteRateLimit, SharedBuckets, bucket_key, parse_rate
from .lag import LagProbe
from .metrics import HTTP_REQUESTS, HTTP_SECONDS
from .observability import (
    configure_logging,
    continue_trace,
    correlation_id_var,
    new_request_id,
    traceparent_var,
)
from .outbox import OutboxRelay
from .periodic import every
from .problems import Problem, install_problem_handlers, problem_response
from .settings import ServiceSettings
from .tracing import Tracing

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
S = TypeVar("S", bound=ServiceSettings)

# What a client is told to wait before retrying while the database is unavailable.
DATABASE_RETRY_AFTER_S = 5


def database_problem(exc: Exception) -> Problem | None:
    """The 503 answer to a request that failed because PostgreSQL is down or hung."""
    if not database_unavailable(exc):
        return None
    return Problem(
        503,
        "database_unavailable",
        "The database is unavailable",
        "Nothing was changed; retry shortly.",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
    )


def database_timeouts(settings: ServiceSettings) -> DatabaseTimeouts:
    return DatabaseTimeouts(
        connect_s=settings.db_connect_timeout_s,
        pool_s=settings.db_pool_timeout_s,
        statement_s=settings.db_statement_timeout_s,
    )


class KafkaPublisher:
    """Adapter from the FastStream broker to the relay's and consumer's publishing needs."""

    def __init__(self, broker: KafkaBroker) -> None:
        self.broker = broker

    async def enqueue(
        self, topic: str, key: bytes, value: bytes, headers: dict[str, str]
    ) -> Awaitable[object]:
        return await self.broker.publish(value, topic, key=key, headers=headers, no_confirm=True)

    async def dead_letter(
        self, topic: str, key: bytes | None, value: bytes, headers: Mapping[str, str]
    ) -> None:
        await self.broker.publish(value, topic, key=key, headers=dict(headers))


class ServiceRuntime(Generic[S]):
    """Generic over the service's settings type: ``rt.settings`` is the service's own
    ``Settings``, no ``isinstance`` needed."""

    def __init__(self, service: str, settings: S) -> None:
        self.service = service
        self.settings = settings
        self.db = Database(
            settings.database_url, service, settings.db_pool_size, database_timeouts(settings)
        )
        self.tracing = Tracing(service)
        """Spans exported over OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (tracing.py)."""
        self.tracing.instrument_engine(self.db.engine)
        # FastStream logs through our JSON root handler; per-message lines only at DEBUG.
        # acks="all": the relay deletes an outbox row once the broker acknowledged its event,
        # so the acknowledgement must mean every in-sync replica has it (aiokafka's default,
        # 1, is the leader alone: a leader lost right after would lose the event).
        self.broker = KafkaBroker(
            settings.kafka_bootstrap_servers,
            client_id=service,
            acks="all",
            logger=logging.getLogger("faststream"),
            log_level=logging.DEBUG,
        )
        self.publisher = KafkaPublisher(self.broker)
        self.relay = OutboxRelay(
            self.db,
            self.publisher,
            settings.outbox_batch_size,
            settings.outbox_poll_interval_s,
            self.tracing,
        )
        self.limits = SharedBuckets(self.db.engine)
        """Request budgets shared by the instances (README "Limits"): the API's per-route,
        per-IP limits, and any other named budget a service spends (``limits.take``)."""
        self._background: list[tuple[BackgroundTask[S], JobRole]] = []
        self._handlers: dict[type[Event], Handler | Batched] = {}
        self.consumer: EventConsumer | None = None

    def _on(self, event_cls: type[E], handler: Callable[[E, UnitOfWork], Awaitable[None]]) -> None:
        """Handle `event_cls` events (inbox-deduped, retried, dead-lettered on failure)."""
        self._handlers[event_cls] = cast(Handler, handler)

    def _subscribe(self) -> None:
        """Subscribe, as this service's consumer group, to the topics of the handled events."""
        s = self.settings
        consumer = self.consumer = EventConsumer(
            self.service,
            self.db,
            self._handlers,
            self.publisher,
            s.consumer_max_attempts,
            s.consumer_backoff_base_s,
            s.consumer_backoff_max_s,
            self.tracing,
        )
        topics = sorted({topic_for(cls).name for cls in self._handlers})

        @self.broker.subscriber(
            *topics,
            group_id=self.service,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            session_timeout_ms=s.kafka_session_timeout_ms,
            heartbeat_interval_ms=max(s.kafka_session_timeout_ms // 3, 1000),
            batch=True,
            max_records=s.consumer_batch_max,
            batch_timeout_ms=s.consumer_poll_timeout_ms,
        )
        async def on_batch(msg: KafkaMessage) -> None:
            raw = msg.raw_message
            assert isinstance(raw, tuple)
            await consumer.handle_batch(
                [Record(r.topic, r.partition, r.offset, r.key, r.value, r.headers) for r in raw],
                s.consumer_concurrency,
            )

    def _add_background(self, task: "BackgroundTask[S]", role: JobRole = "worker") -> None:
        """Run `task(runtime)` for the life of processes of ``role`` (a bootstrap's job)."""
        self._background.append((task, role))

    def runs(self, role: JobRole) -> bool:
        """Whether this process plays ``role`` (``ROLE`` / ``serve --role``)."""
        return self.settings.role in ("all", role)

    def wire(self, spec: Service[S], **deps: object) -> FastAPI:
        """The service's app running everything ``spec`` lists, with ``deps`` (and
        ``runtime``, ``db``, ``settings``) injected by name into its handlers and jobs and
        kept for its routes (``bootstrap.provided``)."""
        deps = {
            "runtime": self,
            "db": self.db,
            "settings": self.settings,
            "tracing": self.tracing,
            **deps,
        }
        for event_cls, handler in spec.events.items():
            if isinstance(handler, Batched):
                self._handlers[event_cls] = replace(
                    handler, handler=inject(handler.handler, deps, leading=2)
                )
            else:
                self._on(event_cls, inject(handler, deps, leading=2))
        for job in spec.jobs:
            self._add_background(_job_task(job, deps), job.role)
        app = self.create_app(
            spec.routers,
            spec.title,
            webhook_prefixes=spec.webhook_prefixes,
            rate_limited_prefix=spec.rate_limited_prefix,
            route_rates=spec.route_rates,
            direct_routes=spec.direct_routes,
        )
        app.state.deps = deps
        return app

    async def _measure_lag(self) -> None:
        """Publish the group's lag and its dead letters every ``LAG_POLL_INTERVAL_S``."""
        probe = LagProbe(
            self.settings.kafka_bootstrap_servers,
            self.service,
            sorted({topic_for(cls).name for cls in self._handlers}),
            dead_letter_topic(self.service).name,
        )
        try:
            await every(
                self.settings.lag_poll_interval_s,
                probe.publish,
                name="measuring consumer lag",
                first_at_start=False,
                logger=log,
                level=logging.WARNING,
            )
        finally:
            await probe.close()

    def rate(self, name: str, default: str | None = None) -> Rate | None:
        """A named budget's rate: ``RATE_LIMITS[name]``, else ``default``, else the default."""
        return self.settings.rate_for(name, default)

    def check_rate(self, name: str, subject: str, default: str | None = None) -> None:
        """Spend one of ``subject``'s ``name`` budget (e.g. an order per email); raises the
        429 problem when it is spent."""
        rate = self.rate(name, default)
        if rate is not None and (wait := self.limits.take(bucket_key(name, subject), rate)) > 0:
            raise RateLimited(wait)

    def create_app(
        self,
        routers: Sequence[APIRouter],
        title: str,
        *,
        webhook_prefixes: Sequence[str] = (),
        rate_limited_prefix: str = "/api/",
        route_rates: Mapping[str, str] | None = None,
        direct_routes: Sequence[DirectEndpoint] = (),
    ) -> FastAPI:
        """The service's app. Routes under ``webhook_prefixes`` (signed provider callbacks)
        get ``WEBHOOK_MAX_BODY_BYTES`` and ``WEBHOOK_RATE_LIMIT`` instead of the defaults;
        requests under ``rate_limited_prefix`` spend their route's budget (``route_rates``:
        a route's own default, by name), the operations routes (health, metrics) none.
        The operations routes come first: a service's catch-all page route (``/{slug}``)
        must not answer ``/healthz``. ``direct_routes`` skip FastAPI's routing below the
        middlewares (``direct_routes.py``)."""

        worker = self.runs("worker")

        @contextlib.asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            # The broker is the worker's: requests only write to the database (the outbox).
            tasks = [
                asyncio.create_task(
                    self.limits.run(self.settings.rate_limit_sync_s), name="rate-limit-sync"
                )
            ]
            if worker:
                if self._handlers and self.consumer is None:
                    self._subscribe()
                await self.broker.start()
                tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
                if self._handlers:
                    tasks.append(asyncio.create_task(self._measure_lag(), name="consumer-lag"))
            tasks += [
                asyncio.create_task(t(self), name=t.__name__)
                for t, role in self._background
                if self.runs(role)
            ]
            log.info(
                "service started",
                extra={"port": self.settings.http_port, "role": self.settings.role},
            )
            try:
                yield
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                if worker:
                    await self.broker.stop()
                await self.db.dispose()
                self.tracing.flush()

        app = FastAPI(title=title, lifespan=lifespan, version="1.0.0")
        app.state.runtime = self
        # Middlewares added first are innermost: the direct routes below every other one.
        leaves = leaf_routes(routers)
        direct = [direct_route(endpoint, leaves) for endpoint in direct_routes]
        if direct and self.runs("api"):
            app.add_middleware(
                DirectRoutes, routes=direct, handlers=app.exception_handlers, router=app.router
            )
        install_problem_handlers(app, (SQLAlchemyError, OSError), database_problem)
        ops = self._ops_router()
        app.include_router(ops)
        if self.runs("api"):
            for router in routers:
                app.include_router(router)
        s = self.settings
        # Outermost last: request context (ids on every answer), then rate limits, then body
        # size, each before anything reads the body.
        app.add_middleware(
            BodyLimit,
            max_bytes=s.max_body_bytes,
            per_prefix=dict.fromkeys(webhook_prefixes, s.webhook_max_body_bytes),
        )
        table: list[tuple[BaseRoute, Rate | None, str]] = [
            (route, None, getattr(route, "name", "")) for route in leaf_routes([ops])
        ]
        own = route_rates or {}
        for route in leaves:
            name, path = getattr(route, "name", ""), getattr(route, "path", "")
            webhook = any(path.startswith(p) for p in webhook_prefixes)
            default = s.webhook_rate_limit if webhook else own.get(name)
            table.append((route, s.rate_for(name, default), name))
        app.add_middleware(
            RouteRateLimit,
            buckets=self.limits,
            default=parse_rate(s.rate_limit_default),
            routes=table,
            trusted=s.trusted_networks,
            exempt=s.exempt_networks,
            prefix=rate_limited_prefix,
        )
        app.add_middleware(_RequestContext)
        self.tracing.instrument_app(app)  # outermost: the request context reads its span
        return app

    def _ops_router(self) -> APIRouter:
        router = APIRouter(tags=["operations"])

        @router.get("/healthz")
        async def healthz() -> dict[str, str]:
            """Liveness: the process answers."""
            return {"status": "ok", "service": self.service}

        @router.get("/readyz", response_model=None)
        async def readyz() -> Response | dict[str, Any]:
            """Readiness: the database answers (503 ``not_ready`` otherwise). The broker is
            checked and reported, but an outage of it leaves the instance ready: requests
            only write to the database (events wait in the outbox), so taking instances
            out of the load balancer would refuse orders the outbox could have kept."""
            checks: dict[str, str] = {}
            try:
                await asyncio.wait_for(self.db.ping(), 2)
                checks["database"] = "ok"
            except Exception:
                checks["database"] = "unavailable"
            if self.runs("worker"):
                try:
                    ok = await asyncio.wait_for(self.broker.ping(timeout=2), 3)
                    checks["broker"] = "ok" if ok else "unreachable"
                except Exception:
                    checks["broker"] = "unreachable"
            if checks["database"] == "ok":
                status = "ready" if checks.get("broker", "ok") == "ok" else "degraded"
                return {"status": status, "service": self.service, "checks": checks}
            return problem_response(
                503,
                "not_ready",
                "Service not ready",
                headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
                checks=checks,
            )

        @router.get("/metrics", response_class=PlainTextResponse)
        async def metrics() -> Response:
            """Prometheus text exposition."""
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

        return router


BackgroundTask = Callable[[ServiceRuntime[S]], Coroutine[Any, Any, None]]
"""A task run for the life of the process, given the runtime (``BackgroundTask[Settings]``)."""


def _job_task(job: Job, deps: Mapping[str, object]) -> BackgroundTask[Any]:
    """A job as a background task of the runtime, logging on its own module's logger."""
    if isinstance(job, Periodic):
        periodic = job
        round = inject(periodic.round, deps)
        interval = inject(periodic.interval, deps)

        async def task(runtime: ServiceRuntime[Any]) -> None:
            await every(
                interval(),
                round,
                name=periodic.name,
                jitter=periodic.jitter,
                first_at_start=periodic.first_at_start,
                logger=logging.getLogger(periodic.round.__module__),
                level=periodic.level,
            )

    else:
        run = inject(job.run, deps)

        async def task(runtime: ServiceRuntime[Any]) -> None:
            await run()

    task.__name__ = job.name
    return task


class _RequestContext:
    """Correlation id and trace context for every request, echoed in the response, and the
    request metrics (count by route, method and status; latency by route and method).

    A plain ASGI middleware: Starlette's BaseHTTPMiddleware (``app.middleware("http")``)
    costs a task group and memory streams per request, a third of a hot endpoint's CPU.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = Headers(scope=scope)
        request_id = (headers.get("x-request-id") or new_request_id())[:128]
        correlation_id_var.set(request_id)
        traceparent_var.set(continue_trace(headers.get("traceparent")))
        status = 500  # what the client sees if nothing answers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-Id"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            # The route's template (set by the router), never the raw path: bounded labels.
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(route, scope["method"], str(status)).inc()
            HTTP_SECONDS.labels(route, scope["method"]).observe(time.perf_counter() - started)


async def get_runtime(request: Request) -> ServiceRuntime[Any]:
    # async: a sync dependency would cost a thread-pool hop on every request.
    runtime: ServiceRuntime[Any] = request.app.state.runtime
    return runtime


Runtime = Annotated[ServiceRuntime[S], Depends(get_runtime)]
"""The FastAPI dependency on the app's runtime, typed by the service: ``rt: Runtime[Settings]``."""


def configure(service: str, settings: S) -> ServiceRuntime[S]:
    configure_logging(service, settings.log_level)
    return ServiceRuntime(service, settings)
