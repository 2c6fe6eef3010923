"""Traces: OpenTelemetry spans of every service, set up here once (ADR 0013).

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is
set: then each service exports its spans over OTLP/HTTP with ``service.name`` = the service
(the other standard ``OTEL_EXPORTER_OTLP_*`` variables apply: headers, timeout...). Off,
nothing of the SDK is built and nothing is instrumented: the hand-rolled ``traceparent``
(``observability``) still carries one trace id through HTTP, the outbox and Kafka, into logs.

On, the spans are:

* HTTP: a server span per request (opentelemetry-instrumentation-fastapi), except the
  operations routes (``/healthz``, ``/readyz``, ``/metrics``);
* SQL: a span per statement (opentelemetry-instrumentation-sqlalchemy, the service's engine);
* outgoing HTTP: a span per call of the aiohttp sessions made with
  :meth:`Tracing.aiohttp_trace_configs` (payments' Stripe client), with ``traceparent``
  sent along;
* Kafka, our own spans (FastStream's batch subscriber and the outbox relay, which publishes
  later in another task, do not fit the aiokafka instrumentation): the relay's
  ``publish <topic>`` (producer) is a child of the ``traceparent`` the outbox row stored
  when the event was emitted and is itself the ``traceparent`` sent; the consumer's
  ``process <event type>`` is a child of the record's ``traceparent``; and a background job
  continues a trace it stored with :meth:`Tracing.span` (payments' queue items).

Only requests and consumed events start a trace (``OTEL_TRACES_SAMPLER_ARG``: the ratio of
them kept, 1 by default); a statement or call outside any span (a poll, a periodic round)
is not recorded, so an idle service sends nothing.
"""

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes
from sqlalchemy.ext.asyncio import AsyncEngine

from .observability import format_traceparent, new_traceparent, traceparent_var

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
OPERATIONS_URLS = "/healthz,/readyz,/metrics"
_PROPAGATOR = TraceContextTextMapPropagator()
_exporter_override: list[SpanExporter] = []


@contextlib.contextmanager
def export_to(exporter: SpanExporter) -> Iterator[None]:
    """Every :class:`Tracing` built meanwhile exports to ``exporter``, span by span (tests,
    in-process stacks), whatever the environment says."""
    _exporter_override.append(exporter)
    try:
        yield
    finally:
        _exporter_override.remove(exporter)


class _EntryPoints(Sampler):
    """A trace starts at a request or a consumed event only, ``ratio`` of them."""

    def __init__(self, ratio: float) -> None:
        self._ratio = TraceIdRatioBased(ratio)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        if kind in (SpanKind.SERVER, SpanKind.CONSUMER):
            return self._ratio.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )
        return SamplingResult(Decision.DROP)

    def get_description(self) -> str:
        return f"EntryPoints{{{self._ratio.get_description()}}}"


def _sample_ratio() -> float:
    try:
        return min(max(float(os.environ.get("OTEL_TRACES_SAMPLER_ARG", "1")), 0.0), 1.0)
    except ValueError:
        return 1.0


def _exporter_from_env() -> tuple[SpanExporter | None, bool]:
    """The exporter to use and whether to batch (OTLP) or send each span at once (tests)."""
    if _exporter_override:
        return _exporter_override[-1], False
    if not any(os.environ.get(name) for name in ENDPOINT_VARIABLES):
        return None, False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(), True


class Tracing:
    """One service's tracer: on when an exporter is configured, a no-op otherwise."""

    def __init__(self, service: str, *, export: bool = True) -> None:
        """``export=False``: off whatever the environment says (a default for parts built
        outside a runtime, e.g. by an operator command)."""
        self.service = service
        exporter, batch = _exporter_from_env() if export else (None, False)
        self.provider: TracerProvider | None = None
        self.tracer: trace.Tracer = trace.NoOpTracer()
        if exporter is None:
            return
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": service}),
            sampler=ParentBased(_EntryPoints(_sample_ratio())),
        )
        processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("dropwave_runtime")

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    def instrument_app(self, app: Any) -> None:
        if self.provider is None:
            return
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.provider,
            meter_provider=NoOpMeterProvider(),
            excluded_urls=OPERATIONS_URLS,
            exclude_spans=["receive", "send"],
        )

    def instrument_engine(self, engine: AsyncEngine) -> None:
        if self.provider is None:
            return
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

        # EngineTracer directly: SQLAlchemyInstrumentor is one per process, and services
        # wired side by side (tests) each have their own provider.
        tracer = self.provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
        usage = NoOpMeterProvider().get_meter("sqlalchemy").create_up_down_counter("unused")
        EngineTracer(tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]

    def aiohttp_trace_configs(self) -> list[Any]:
        """What an ``aiohttp.ClientSession`` takes (``trace_configs``) to make a span per
        call (the Stripe adapter's session); none when tracing is off."""
        if self.provider is None:
            return []
        from opentelemetry.instrumentation.aiohttp_client import create_trace_config

        return [
            create_trace_config(tracer_provider=self.provider, meter_provider=NoOpMeterProvider())
        ]

    @contextlib.contextmanager
    def span(
        self,
        name: str,
        parent: str | None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
    ) -> Iterator[None]:
        """Run the block in a span continuing the trace ``parent`` (a ``traceparent``; None:
        a new trace); events emitted in it, calls and statements made in it are its
        children. Off, only the hand-rolled ``traceparent`` (logs, emitted events)."""
        if self.provider is None:
            token = traceparent_var.set(new_traceparent(parent))
            try:
                yield
            finally:
                traceparent_var.reset(token)
            return
        with self.tracer.start_as_current_span(
            name, context=_context_of(parent), kind=kind, attributes=attributes
        ) as span:
            token = traceparent_var.set(format_traceparent(span.get_span_context()))
            try:
                yield
            finally:
                traceparent_var.reset(token)

    def start_publish(
        self, topic: str, headers: Mapping[str, str]
    ) -> tuple[trace.Span | None, dict[str, str]]:
        """The producer span of relaying one outbox row (child of the ``traceparent`` it
        stored) and the headers to send (its own ``traceparent``); end it once acked."""
        if self.provider is None:
            return None, dict(headers)
        span = self.tracer.start_span(
            f"publish {topic}",
            context=_context_of(headers.get("traceparent")),
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.destination.name": topic,
            },
        )
        sent = dict(headers)
        if span.get_span_context().is_valid:
            sent["traceparent"] = format_traceparent(span.get_span_context())
        return span, sent

    def flush(self) -> None:
        if self.provider is not None:
            self.provider.force_flush()


def _context_of(traceparent: str | None) -> Context:
    """A context whose span is the remote parent ``traceparent``; an empty one (a new
    trace, not the caller's ambient span) when there is none or it cannot be read."""
    if not traceparent:
        return Context()
    return _PROPAGATOR.extract({"traceparent": traceparent}, context=Context())
