"""Correlation ids in JSON logs and W3C trace context across Kafka."""

import io
import json
import logging
import uuid
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer
from dropwave_contracts.events import CampaignTipped
from dropwave_runtime.db import Database
from dropwave_runtime.observability import (
    configure_logging,
    correlation_id_var,
    new_request_id,
    new_traceparent,
    traceparent_var,
)
from dropwave_runtime.outbox import OutboxRelay
from dropwave_runtime.service import KafkaPublisher

from tests.factories import event as event_of


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("orders", "INFO")
    stream = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    yield stream
    root.handlers[:], level = saved
    root.setLevel(level)


def test_json_log_line_carries_service_correlation_and_trace(log_stream: io.StringIO) -> None:
    parent = new_traceparent()
    correlation_id_var.set("req-42")
    traceparent_var.set(parent)
    logging.getLogger("x").info("order placed")
    line = json.loads(log_stream.getvalue().splitlines()[-1])
    assert line["message"] == "order placed"
    assert line["service"] == "orders"
    assert line["correlation_id"] == "req-42"
    assert line["trace_id"] == parent.split("-")[1]


def test_the_stripe_sdks_per_request_lines_are_not_logged_its_warnings_are(
    log_stream: io.StringIO,
) -> None:
    stripe_log = logging.getLogger("stripe")
    stripe_log.info("Request to Stripe api")
    stripe_log.warning("Stripe v1 API error received")
    messages = [json.loads(line)["message"] for line in log_stream.getvalue().splitlines()]
    assert messages == ["Stripe v1 API error received"]


def test_child_traceparent_keeps_trace_and_changes_span() -> None:
    parent = new_traceparent()
    child = new_traceparent(parent)
    assert child.split("-")[1] == parent.split("-")[1]
    assert child.split("-")[2] != parent.split("-")[2]
    assert new_traceparent("garbage").split("-")[0] == "00"


def test_new_ids_are_well_formed_and_distinct() -> None:
    import re

    parents = {new_traceparent() for _ in range(1000)}
    assert len(parents) == 1000
    assert all(re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", p) for p in parents)
    assert all(p.split("-")[1] != "0" * 32 for p in parents)  # all-zero ids are invalid
    request_ids = {new_request_id() for _ in range(1000)}
    assert len(request_ids) == 1000
    assert all(uuid.UUID(r).version == 4 for r in request_ids)


@pytest.mark.timeout(60)
async def test_traceparent_travels_in_kafka_headers(
    plumbing_database: str, kafka_bootstrap: str, publisher: KafkaPublisher
) -> None:

    parent = new_traceparent()
    traceparent_var.set(parent)
    db = Database(plumbing_database, "campaigns")
    event = event_of(CampaignTipped)
    async with db.unit_of_work() as uow:
        await uow.emit(event)
    assert await OutboxRelay(db, publisher).relay_once() == 1
    await db.dispose()

    consumer = AIOKafkaConsumer(
        "campaigns.events.v1", bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        for _ in range(20):
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    if str(event.event_id).encode() in r.value:
                        headers = dict(r.headers)
                        trace = headers["traceparent"].decode().split("-")[1]
                        assert trace == parent.split("-")[1]
                        return
    finally:
        await consumer.stop()
    pytest.fail("event not found on the topic")
