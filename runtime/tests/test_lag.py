"""Consumer lag and dead letters, measured from a real Kafka-protocol broker."""

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from dropwave_contracts.topics import dead_letter_topic
from dropwave_runtime.lag import LagProbe

pytestmark = pytest.mark.timeout(60)

TOPIC = "orders.events.v1"


async def test_lag_is_what_the_group_has_not_committed_and_letters_are_counted(
    kafka_bootstrap: str,
) -> None:
    group = f"lag-probe-{uuid.uuid4().hex[:8]}"
    dlq = dead_letter_topic("campaigns").name
    probe = LagProbe(kafka_bootstrap, group, [TOPIC], dlq)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        _, letters_before = await probe.measure()
        for n in range(3):
            await producer.send_and_wait(TOPIC, b"{}", key=f"k{n}".encode(), partition=0)
        for _ in range(2):
            await producer.send_and_wait(dlq, b"{}", partition=0)
        lag, letters = await probe.measure()
        first = TopicPartition(TOPIC, 0)
        assert lag[first] >= 3  # a group that committed nothing is behind by everything
        assert letters == letters_before + 2

        committer = AIOKafkaConsumer(
            bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False
        )
        await committer.start()
        try:
            end = (await committer.end_offsets([first]))[first]
            committer.assign([first])
            await committer.commit({first: OffsetAndMetadata(end - 1, "")})
        finally:
            await committer.stop()
        lag, _ = await probe.measure()
        assert lag[first] == 1
        assert set(lag) >= {first}
    finally:
        await producer.stop()
        await probe.close()


async def test_a_worker_publishes_its_groups_lag(
    plumbing_database: str, kafka_bootstrap: str
) -> None:
    import asyncio
    from pathlib import Path

    from dropwave_contracts.events import OrderCancelled
    from dropwave_runtime.bootstrap import Service
    from dropwave_runtime.service import ServiceRuntime
    from dropwave_runtime.settings import ServiceSettings
    from prometheus_client import REGISTRY

    async def on_cancelled(event: OrderCancelled, uow: object) -> None: ...

    group = "notifications"  # a service's group is its name (and it has a dead-letter topic)
    settings = ServiceSettings(
        database_url=plumbing_database,
        kafka_bootstrap_servers=kafka_bootstrap,
        role="worker",
        lag_poll_interval_s=0.2,
    )
    spec = Service(group, "t", ServiceSettings, Path("."), events={OrderCancelled: on_cancelled})
    app = ServiceRuntime(group, settings).wire(spec)

    def sample() -> float | None:
        labels = {"group": group, "topic": TOPIC, "partition": "0"}
        return REGISTRY.get_sample_value("dropwave_consumer_lag", labels)

    async with app.router.lifespan_context(app):
        async with asyncio.timeout(20):
            while sample() is None:
                await asyncio.sleep(0.1)
    letters = REGISTRY.get_sample_value("dropwave_dlq_messages", {"topic": f"dlq.{group}.v1"})
    assert letters is not None
