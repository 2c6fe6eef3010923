"""JSON logs that carry the correlation id, and W3C trace context for Kafka headers.

Without an exporter (``tracing``) the trace context is propagated by hand (traceparent is a
four-field string) so every hop, HTTP or Kafka, keeps one trace id without an OpenTelemetry
SDK at run time. With one, the current OpenTelemetry span is the context sent on.
"""

import logging
import random
import sys
import uuid
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)
traceparent_var: ContextVar[str | None] = ContextVar("traceparent", default=None)


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.correlation_id = correlation_id_var.get()
        tp = traceparent_var.get()
        record.trace_id = tp.split("-")[1] if tp else None
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send JSON lines to stderr; safe to call more than once."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "asctime": "time"},
        )
    )
    handler.addFilter(_ContextFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # stripe logs two INFO lines per request (its requests are counted by outcome in
    # dropwave_stripe_requests_total): 6,000 lines for a 1,500-order drop, none to act on.
    for noisy in ("aiokafka", "uvicorn.access", "stripe"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def new_traceparent(parent: str | None = None) -> str:
    """A child span of `parent` (same trace id, new span id), or a new trace.

    Ids come from `random`, as OpenTelemetry's own generator does: they must be unique,
    not secret, and a system call for entropy per id was measurable on the order path.
    """
    trace_id = ""
    if parent:
        parts = parent.split("-")
        if len(parts) == 4 and len(parts[1]) == 32:
            trace_id = parts[1]
    if not trace_id:
        trace_id = f"{random.getrandbits(128) or 1:032x}"
    return f"00-{trace_id}-{random.getrandbits(64) or 1:016x}-01"


def new_request_id() -> str:
    """A request (correlation) id when the client sent none: a UUID, random like trace ids."""
    return str(uuid.UUID(int=random.getrandbits(128), version=4))


def format_traceparent(span: trace.SpanContext) -> str:
    return f"00-{span.trace_id:032x}-{span.span_id:016x}-{span.trace_flags:02x}"


def _current_span() -> trace.SpanContext | None:
    """The current OpenTelemetry span's context (tracing on), else None."""
    context = trace.get_current_span().get_span_context()
    return context if context.is_valid else None


def continue_trace(parent: str | None) -> str:
    """The traceparent of the work starting now: the current OpenTelemetry span's (tracing
    on: the request's server span), else a child of ``parent`` made by hand."""
    span = _current_span()
    return format_traceparent(span) if span else new_traceparent(parent)


def current_trace_headers() -> dict[str, str]:
    """Headers for an outgoing message: the current span is its parent (tracing on), else
    a child of the current hand-made context."""
    span = _current_span()
    if span is not None:
        return {"traceparent": format_traceparent(span)}
    return {"traceparent": new_traceparent(traceparent_var.get())}


def log_extra(**fields: Any) -> dict[str, Any]:
    return {"extra": fields}
