"""Payments' own Prometheus metrics (served with the runtime's at ``/metrics``): the work
queue of authorizations, captures and releases. Labels are the item kind (three values) and
an attempt's outcome (three values): bounded, never an order or campaign id."""

from __future__ import annotations

from dropwave_runtime.db import Database
from prometheus_client import Counter, Gauge
from sqlalchemy import func, select

from .models import SettlementItem

QUEUE_KINDS = ("authorize", "capture", "release")

QUEUE_ITEMS = Gauge(
    "dropwave_payments_queue_items",
    "Items queued in payments' work queue (not done, not given up), by kind",
    ["kind"],
)
QUEUE_OLDEST_AGE = Gauge(
    "dropwave_payments_queue_oldest_age_seconds",
    "Age of the oldest item still queued, by kind (0 when none): a release Stripe keeps "
    "refusing shows here",
    ["kind"],
)
STRIPE_REQUESTS = Counter(
    "dropwave_stripe_requests_total",
    "HTTP requests to Stripe, each attempt (the SDK's retries too), by method, the resource "
    "(the path's first part after /v1/) and outcome: ok, rate_limited (429), client_error, "
    "server_error, network_error",
    ["method", "resource", "outcome"],
)
WEBHOOKS_UNMATCHED = Counter(
    "dropwave_payments_webhooks_unmatched_total",
    "PaymentIntent webhooks for one of our orders without a payment record, acknowledged "
    "after STRIPE_WEBHOOK_UNKNOWN_GRACE_S (each logged: reconcile them), by event type",
    ["event_type"],
)
QUEUE_ATTEMPTS = Counter(
    "dropwave_payments_queue_attempts_total",
    "Stripe attempts of queue items, by kind and outcome (ok: Stripe answered; retry: a "
    "transient failure, tried again later; gave_up: the item's attempts are used up)",
    ["kind", "outcome"],
)


def stripe_outcome(status: int) -> str:
    """An HTTP status from Stripe as the outcome label."""
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    return "client_error" if status >= 400 else "ok"


def stripe_resource(url: str) -> str:
    """``https://api.stripe.com/v1/payment_intents/pi_1/capture`` -> ``payment_intents``."""
    parts = url.split("?", 1)[0].split("/v1/", 1)
    return parts[1].split("/", 1)[0] if len(parts) == 2 and parts[1] else "other"


async def refresh_queue_gauges(db: Database) -> None:
    """Set the gauges from the queue as stored (one grouped query)."""
    i = SettlementItem
    async with db.sessions() as session:
        rows = (
            await session.execute(
                select(
                    i.kind,
                    func.count(),
                    func.extract("epoch", func.now() - func.min(i.created_at)),
                )
                .where(i.status == "queued")
                .group_by(i.kind)
            )
        ).all()
    found = {row[0]: (int(row[1]), float(row[2] or 0)) for row in rows}
    for kind in QUEUE_KINDS:
        count, age = found.get(kind, (0, 0.0))
        QUEUE_ITEMS.labels(kind).set(count)
        QUEUE_OLDEST_AGE.labels(kind).set(max(age, 0.0))
