"""tracing.py: off without an endpoint (the hand-made traceparent goes on), on with one;
only requests and consumed events start a trace; a publish continues its stored parent."""

import pytest
from dropwave_runtime.observability import current_trace_headers, new_traceparent, traceparent_var
from dropwave_runtime.tracing import Tracing, export_to
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

PARENT = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"


@pytest.fixture(autouse=True)
def no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)


def test_off_without_an_endpoint_keeps_the_hand_made_trace() -> None:
    tracing = Tracing("orders")
    assert not tracing.enabled
    with tracing.span("process X", PARENT, SpanKind.CONSUMER):
        mine = traceparent_var.get()
        sent = current_trace_headers()["traceparent"]
    assert mine is not None
    assert mine.split("-")[1] == "a" * 32
    assert sent.split("-")[1] == "a" * 32
    span, headers = tracing.start_publish("t", {"traceparent": PARENT})
    assert span is None
    assert headers == {"traceparent": PARENT}


def test_an_endpoint_turns_it_on_with_batched_otlp_export(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    tracing = Tracing("payments")
    assert tracing.enabled
    assert tracing.provider is not None
    processors = tracing.provider._active_span_processor._span_processors
    assert [type(p) for p in processors] == [BatchSpanProcessor]
    assert tracing.provider.resource.attributes["service.name"] == "payments"
    tracing.provider.shutdown()
    assert not Tracing("payments", export=False).enabled


def test_spans_continue_the_stored_parent_and_only_entry_points_start_traces() -> None:
    exporter = InMemorySpanExporter()
    with export_to(exporter):
        tracing = Tracing("orders")
    with tracing.span("a poll", None):  # no parent, not a request or an event: not kept
        pass
    with tracing.span("process X", PARENT, SpanKind.CONSUMER):
        sent = current_trace_headers()["traceparent"]
        assert traceparent_var.get() == sent
    span, headers = tracing.start_publish("orders.events.v1", {"traceparent": sent})
    assert span is not None
    span.end()
    consumed, published = exporter.get_finished_spans()
    assert consumed.name == "process X"
    assert consumed.context.trace_id == int("a" * 32, 16)
    assert consumed.parent is not None
    assert consumed.parent.span_id == int("b" * 16, 16)
    assert published.parent is not None
    assert published.parent.span_id == consumed.context.span_id
    assert headers["traceparent"].split("-")[2] == f"{published.context.span_id:016x}"
    assert published.kind is SpanKind.PRODUCER


def test_a_bad_parent_starts_a_new_trace() -> None:
    exporter = InMemorySpanExporter()
    with export_to(exporter):
        tracing = Tracing("orders")
    with tracing.span("process X", "garbage", SpanKind.CONSUMER):
        assert new_traceparent(traceparent_var.get()).startswith("00-")
    (span,) = exporter.get_finished_spans()
    assert span.parent is None
