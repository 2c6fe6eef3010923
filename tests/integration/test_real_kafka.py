"""What only a real Kafka (Redpanda) gives: idempotent producers and transactions.

Tansu lacks both (see DESIGN.md), so these run only where a Docker engine answers and the
session broker is testcontainers' Redpanda.
"""

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]


@pytest.fixture(autouse=True)
def _needs_docker(docker_engine: bool) -> None:
    if not docker_engine:
        pytest.skip("needs a Docker engine (testcontainers' Redpanda); none answers here")


async def test_idempotent_transactional_produce_is_read_committed(kafka_bootstrap: str) -> None:
    topic = "campaigns.events.v1"
    marker = uuid.uuid4().hex.encode()
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap,
        enable_idempotence=True,
        transactional_id=f"test-{uuid.uuid4().hex[:8]}",
    )
    await producer.start()
    try:
        await producer.begin_transaction()
        await producer.send_and_wait(topic, b"aborted-" + marker, key=b"k")
        await producer.abort_transaction()
        await producer.begin_transaction()
        await producer.send_and_wait(topic, b"committed-" + marker, key=b"k")
        await producer.commit_transaction()
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    seen: list[bytes] = []
    try:
        for _ in range(20):
            batch = await consumer.getmany(timeout_ms=500)
            seen += [r.value for records in batch.values() for r in records if marker in r.value]
            if any(v.startswith(b"committed-") for v in seen):
                break
    finally:
        await consumer.stop()
    assert seen == [b"committed-" + marker]
