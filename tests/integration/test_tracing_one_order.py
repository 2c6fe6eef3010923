"""One order's trace (ADR 0013): orders, payments and notifications wired in-process on the
real broker and PostgreSQL, their spans caught by an in-memory exporter. The order's HTTP
request, the outbox relay's publish, payments' consume, its queued authorization and Stripe
call, orders' consume of the result and notifications' consume share one trace id; and the
business counters and backlog gauges operators watch are on ``/metrics`` (README)."""

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import notifications.bootstrap
import orders.bootstrap
import payments.bootstrap
import pytest
from aiokafka import AIOKafkaProducer
from dropwave_contracts.events import CampaignPublished
from dropwave_contracts.topics import serialize, topic_for
from dropwave_devstack.stripe_emulator import LocalStripe
from dropwave_runtime.tracing import export_to
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import event

SERVICES = {
    "orders": orders.bootstrap,
    "payments": payments.bootstrap,
    "notifications": notifications.bootstrap,
}


@pytest.fixture
def environment(
    monkeypatch: pytest.MonkeyPatch, kafka_bootstrap: str, localstripe: LocalStripe, tmp_path: Path
) -> None:
    for name, value in {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_SESSION_TIMEOUT_MS": "6000",
        "STRIPE_SECRET_KEY": "sk_test_tracing",
        "STRIPE_API_BASE": localstripe.api_base,
        "STRIPE_WEBHOOK_SECRET": "whsec_tracing",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": "9",
        "MAIL_FROM": "no-reply@dropwave.test",
        "SMS_PROVIDER": "none",
        "PUBLIC_BASE_URL": "http://127.0.0.1:8080",
        "ORDER_TOKEN_SECRET": "tracing-order-token-secret-0123456789",
        "NOTIFICATIONS_LINK_SECRET": "tracing-link-secret-0123456789",
        "PAY_LINK_SECRET": "tracing-pay-link-secret-0123456789",
        "AUTH_JWKS_URL": "http://127.0.0.1:9/jwks.json",
        "AUTH_ISSUER": "https://issuer.test/",
        "AUTH_AUDIENCE": "dropwave-api",
        "DROPWAVE_ENV": "dev",
        "LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def databases(service_db: Callable[[str], str]) -> dict[str, str]:
    """A migrated database per service (synchronous: migrations run their own loop)."""
    return {name: service_db(name) for name in SERVICES}


async def publish(kafka_bootstrap: str, published: CampaignPublished) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic_for(published).name, serialize(published), key=published.key.encode()
        )
    finally:
        await producer.stop()


async def until(probe: Callable[[], bool], what: Callable[[], str], timeout: float = 25) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not probe():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what()}")
        await asyncio.sleep(0.1)


def service_of(span: ReadableSpan) -> str:
    return str(span.resource.attributes["service.name"])


def names(spans: list[ReadableSpan]) -> list[tuple[str, str]]:
    return sorted({(service_of(s), s.name) for s in spans})


Sample = tuple[str, frozenset[tuple[str, str]]]


async def scrape(client: httpx.AsyncClient) -> dict[Sample, float]:
    """Every sample of ``/metrics``, by name and labels."""
    text = (await client.get("/metrics")).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(name: str, **labels: str) -> Sample:
    return name, frozenset(labels.items())


BUSINESS = {
    "orders placed": sample("dropwave_events_emitted_total", event_type="OrderPlaced"),
    "authorizations": sample("dropwave_events_emitted_total", event_type="PaymentAuthorized"),
    "order requests": sample(
        "dropwave_http_requests_total",
        route="/api/v1/campaigns/{slug}/orders",
        method="POST",
        status="201",
    ),
}
GAUGES = [
    sample("dropwave_outbox_pending"),
    *(sample("dropwave_payments_queue_items", kind=k) for k in ("authorize", "capture", "release")),
    *(
        sample("dropwave_payments_queue_oldest_age_seconds", kind=k)
        for k in ("authorize", "capture", "release")
    ),
]


@pytest.mark.timeout(60)
async def test_one_order_is_one_trace_across_every_service_and_counted(
    environment: None, databases: dict[str, str], kafka_bootstrap: str
) -> None:
    exporter = InMemorySpanExporter()
    apps: dict[str, FastAPI] = {}
    with export_to(exporter):
        for name, module in SERVICES.items():
            settings = module.SERVICE.settings(database_url=databases[name])
            apps[name] = module.bootstrap(settings)
    async with contextlib.AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(app.router.lifespan_context(app))
        slug = f"traced-{uuid.uuid4().hex[:8]}"
        now = datetime.now(UTC)
        published = event(
            CampaignPublished,
            slug=slug,
            price_cents=2500,
            min_orders=5,
            deadline=now + timedelta(days=3),
            published_at=now,
        )
        await publish(kafka_bootstrap, published)
        client = await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=apps["orders"]), base_url="http://o"
            )
        )
        before = await scrape(client)

        async def place() -> httpx.Response | None:
            answer = await client.post(
                f"/api/v1/campaigns/{slug}/orders",
                headers={"Idempotency-Key": uuid.uuid4().hex},
                json={"email": "buyer@example.com", "payment_method_id": "pm_card_visa"},
            )
            return answer if answer.status_code == 201 else None

        placed = None
        deadline = asyncio.get_running_loop().time() + 20
        while placed is None:  # until orders has the campaign
            assert asyncio.get_running_loop().time() < deadline, "campaign never reached orders"
            placed = await place()
            if placed is None:
                await asyncio.sleep(0.2)

        request = [  # the last try: the one answered 201
            s
            for s in exporter.get_finished_spans()
            if s.kind is SpanKind.SERVER and s.name.startswith("POST")
        ][-1]
        trace_id = request.context.trace_id

        def in_trace() -> list[ReadableSpan]:
            return [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]

        def notified() -> bool:
            return any(
                service_of(s) == "notifications" and s.kind is SpanKind.CONSUMER for s in in_trace()
            ) and any(s.name == "process PaymentAuthorized" for s in in_trace())

        await until(notified, lambda: f"the trace to reach notifications: {names(in_trace())}")
        after = await scrape(client)  # one registry per process: every service's metrics

    # The business counters moved by exactly this order; the backlog gauges are exported.
    for what, key in BUSINESS.items():
        assert after.get(key, 0) - before.get(key, 0) == 1, what
    missing = [key for key in GAUGES if key not in after]
    assert not missing, missing

    spans = in_trace()
    named = set(names(spans))
    assert ("orders", "publish orders.events.v1") in named
    assert ("payments", "publish payments.events.v1") in named
    assert ("payments", "process OrderPlaced") in named
    assert ("payments", "settlement authorize") in named
    assert ("orders", "process PaymentAuthorized") in named
    assert {service_of(s) for s in spans} == set(SERVICES)
    stripe_calls = [s for s in spans if s.kind is SpanKind.CLIENT and s.name == "POST"]
    assert {service_of(s) for s in stripe_calls} == {"payments"}, sorted(named)
    urls = [  # the attribute's name by the semantic conventions in force (old or new)
        str((s.attributes or {}).get("url.full") or (s.attributes or {}).get("http.url"))
        for s in stripe_calls
    ]
    assert any("/v1/payment_intents" in url for url in urls), urls
    sql = [s for s in spans if service_of(s) == "orders" and s.kind is SpanKind.CLIENT]
    assert sql, "the order's statements are spans of its trace"
    # Every span's parent is a span of the trace (no dangling hop): one tree.
    ids = {s.context.span_id for s in spans}
    roots = [s for s in spans if s.parent is None or s.parent.span_id not in ids]
    assert [r.name for r in roots] == [request.name], sorted(named)
