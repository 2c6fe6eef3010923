"""The plumbing's promises, against real PostgreSQL and a real Kafka-protocol broker."""

import asyncio
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from dropwave_contracts.events import CampaignTipped, OrderCancelled
from dropwave_contracts.topics import dead_letter_topic, serialize, topic_for
from dropwave_runtime.bootstrap import Service
from dropwave_runtime.consumer import EventConsumer, Record
from dropwave_runtime.db import Database, UnitOfWork, outbox_table
from dropwave_runtime.outbox import OutboxRelay
from dropwave_runtime.service import KafkaPublisher, ServiceRuntime
from dropwave_runtime.settings import ServiceSettings
from sqlalchemy import func, select, text


def tipped(campaign_id: uuid.UUID | None = None) -> CampaignTipped:
    from datetime import UTC, datetime

    return CampaignTipped(
        producer="test",
        correlation_id="corr-1",
        campaign_id=campaign_id or uuid.uuid4(),
        current_orders=5,
        min_orders=5,
        tipped_at=datetime.now(UTC),
    )


async def read_topic(bootstrap: str, topic: str, want: int, timeout: float = 15) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        async with asyncio.timeout(timeout):
            while len(values) < want:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    values.extend(r.value for r in records)
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return values


@pytest.fixture
async def db(plumbing_database: str) -> AsyncIterator[Database]:
    database = Database(plumbing_database, "campaigns")
    async with database.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE effects (event_id uuid, n int)"))
    yield database
    await database.dispose()


@pytest.mark.timeout(60)
async def test_event_committed_by_a_process_that_dies_is_still_published(
    plumbing_database: str, kafka_bootstrap: str, publisher: KafkaPublisher
) -> None:
    """The writer commits its state change and event, then is killed before any publish."""
    campaign_id = uuid.uuid4()
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal, uuid
        from datetime import UTC, datetime
        from dropwave_contracts.events import CampaignTipped
        from dropwave_runtime.db import Database

        async def main():
            db = Database({plumbing_database!r}, "campaigns")
            async with db.unit_of_work() as uow:
                await uow.emit(CampaignTipped(producer="test", correlation_id="c",
                    campaign_id=uuid.UUID({str(campaign_id)!r}), current_orders=5,
                    min_orders=5, tipped_at=datetime.now(UTC)))
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False, timeout=30)
    assert proc.returncode == -9  # killed, as planned, after the commit

    db = Database(plumbing_database, "campaigns")
    relay = OutboxRelay(db, publisher)
    assert await relay.relay_once() == 1
    assert await relay.relay_once() == 0
    values = await read_topic(kafka_bootstrap, "campaigns.events.v1", want=10_000, timeout=5)
    assert any(str(campaign_id).encode() in v for v in values)
    await db.dispose()


class FailAfterPublish:
    """Publishes, then fails as if the process died before deleting the outbox rows."""

    def __init__(self, inner: KafkaPublisher) -> None:
        self.inner = inner

    async def enqueue(self, topic: str, key: bytes, value: bytes, headers: dict[str, str]):  # type: ignore[no-untyped-def]
        ack = await self.inner.enqueue(topic, key, value, headers)
        await ack
        raise ConnectionError("lost after publish")


@pytest.mark.timeout(60)
async def test_relay_crash_after_publish_republishes_and_consumer_applies_once(
    db: Database, kafka_bootstrap: str, publisher: KafkaPublisher
) -> None:
    event = tipped()
    async with db.unit_of_work() as uow:
        await uow.emit(event)

    with pytest.raises(ConnectionError):
        await OutboxRelay(db, FailAfterPublish(publisher)).relay_once()
    assert await OutboxRelay(db, publisher).relay_once() == 1  # the row was still there

    values = [
        v
        for v in await read_topic(kafka_bootstrap, "campaigns.events.v1", want=10_000, timeout=5)
        if str(event.event_id).encode() in v
    ]
    assert len(values) == 2  # delivered twice (at-least-once)

    async def count(ev: CampaignTipped, uow: UnitOfWork) -> None:
        await uow.session.execute(text("INSERT INTO effects VALUES (:e, 1)"), {"e": ev.event_id})

    consumer = EventConsumer("campaigns", db, {CampaignTipped: count}, publisher)  # type: ignore[dict-item]
    for offset, value in enumerate(values):
        await consumer.handle(Record("campaigns.events.v1", 0, offset, b"k", value, []))
    async with db.sessions() as s:
        assert await s.scalar(text("SELECT count(*) FROM effects")) == 1  # applied once


@pytest.mark.timeout(60)
async def test_failing_handler_rolls_back_and_retries_then_succeeds(
    db: Database, publisher: KafkaPublisher
) -> None:
    attempts = 0

    async def flaky(ev: CampaignTipped, uow: UnitOfWork) -> None:
        nonlocal attempts
        attempts += 1
        await uow.session.execute(
            text("INSERT INTO effects VALUES (:e, :n)"), {"e": ev.event_id, "n": attempts}
        )
        if attempts < 3:
            raise RuntimeError("transient")

    consumer = EventConsumer(
        "campaigns",
        db,
        {CampaignTipped: flaky},
        publisher,
        max_attempts=4,
        backoff_base_s=0.01,  # type: ignore[dict-item]
    )
    await consumer.handle(Record("t", 0, 0, None, serialize(tipped()), []))
    assert attempts == 3
    async with db.sessions() as s:
        rows = (await s.execute(text("SELECT n FROM effects"))).scalars().all()
    assert rows == [3]  # the failed attempts left nothing behind


@pytest.mark.timeout(90)
async def test_poison_message_goes_to_dlq_and_partition_moves_on(
    plumbing_database: str, kafka_bootstrap: str
) -> None:
    """Through the real broker and the service runtime's subscriber."""
    campaign_id = uuid.uuid4()  # same key: same partition, poison first
    poison_id = uuid.uuid4()
    handled: list[uuid.UUID] = []

    async def on_cancelled(ev: OrderCancelled, uow: UnitOfWork) -> None:
        if ev.order_id == poison_id:
            raise ValueError("cannot handle this one")
        handled.append(ev.order_id)

    settings = ServiceSettings(
        database_url=plumbing_database,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_session_timeout_ms=6000,
        consumer_max_attempts=2,
        consumer_backoff_base_s=0.01,
    )
    rt = ServiceRuntime("campaigns", settings)
    app = rt.wire(
        Service(
            "campaigns", "test", ServiceSettings, Path("."), events={OrderCancelled: on_cancelled}
        )
    )

    def cancelled(order_id: uuid.UUID) -> OrderCancelled:
        return OrderCancelled(
            producer="orders",
            correlation_id="c",
            campaign_id=campaign_id,
            order_id=order_id,
            buyer_number=1,
            reason=None,
            was_confirmed=True,
        )

    good_id = uuid.uuid4()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        topic = topic_for(OrderCancelled).name
        key = str(campaign_id).encode()
        await producer.send_and_wait(topic, b"{not json", key=key)
        await producer.send_and_wait(topic, serialize(cancelled(poison_id)), key=key)
        await producer.send_and_wait(topic, serialize(cancelled(good_id)), key=key)
    finally:
        await producer.stop()

    async with app.router.lifespan_context(app):
        async with asyncio.timeout(45):
            while good_id not in handled:
                await asyncio.sleep(0.1)

    letters = await read_topic(kafka_bootstrap, dead_letter_topic("campaigns").name, want=2)
    assert b"{not json" in letters
    assert any(str(poison_id).encode() in v for v in letters)
    assert handled == [good_id]
    async with rt.db.sessions() as s:
        inbox = await s.scalar(select(func.count()).select_from(outbox_table))
    assert inbox == 0


async def test_committed_events_are_counted_by_type_and_rolled_back_ones_not(
    db: Database,
) -> None:
    from prometheus_client import REGISTRY

    def emitted() -> float:
        value = REGISTRY.get_sample_value(
            "dropwave_events_emitted_total", {"event_type": "CampaignTipped"}
        )
        return value or 0.0

    before = emitted()
    async with db.unit_of_work() as uow:
        await uow.emit_many([tipped(), tipped()])

    async def failing_handler() -> None:
        async with db.unit_of_work() as uow:
            await uow.emit(tipped())
            raise RuntimeError("the handler failed: nothing happened")

    with pytest.raises(RuntimeError):
        await failing_handler()
    assert emitted() == before + 2
