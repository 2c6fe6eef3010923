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
