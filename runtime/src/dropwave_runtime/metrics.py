"""Prometheus metrics shared by every service (exposed at /metrics)."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter(
    "dropwave_events_consumed_total",
    "Events handled by a consumer, by outcome",
    ["consumer", "event_type", "outcome"],
)
EVENTS_DEAD_LETTERED = Counter(
    "dropwave_events_dead_lettered_total", "Messages sent to a dead-letter topic", ["consumer"]
)
OUTBOX_PUBLISHED = Counter("dropwave_outbox_published_total", "Events relayed from the outbox")
OUTBOX_RELAY_ERRORS = Counter("dropwave_outbox_relay_errors_total", "Failed relay rounds")
OUTBOX_PENDING = Gauge("dropwave_outbox_pending", "Events in the outbox after the last round")
HANDLER_SECONDS = Histogram(
    "dropwave_handler_seconds", "Time spent handling one event", ["consumer", "event_type"]
)
HTTP_REQUESTS = Counter(
    "dropwave_http_requests_total",
    "HTTP requests answered, by route template (unmatched paths as one), method and status",
    ["route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "dropwave_http_request_seconds",
    "Time from a request's arrival to the end of its answer (a stream: its whole life)",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
EVENTS_EMITTED = Counter(
    "dropwave_events_emitted_total",
    "Events committed to the outbox, by type: the business counters (OrderPlaced, "
    "PaymentAuthorized/PaymentFailed, PaymentCaptured/PaymentCaptureFailed, CampaignCreated, "
    "CampaignSucceeded/CampaignFailed/CampaignCancelled...)",
    ["event_type"],
)
