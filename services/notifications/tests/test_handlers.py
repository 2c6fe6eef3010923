"""The OrderConfirmed handler against a real, migrated PostgreSQL: one email per event."""

import asyncio
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from dropwave_contracts.events import NotificationSent, OrderConfirmed
from dropwave_contracts.topics import parse_event, serialize, topic_for
from dropwave_runtime.consumer import EventConsumer, Record
from dropwave_runtime.db import Database, UnitOfWork, outbox_table
from notifications.domain import delivery_id
from notifications.handlers import on_order_confirmed
from notifications.mailer import (
    PermanentDeliveryError,
    RecordingMailer,
    TransientDeliveryError,
    delivery_id_of,
)
from notifications.models import Delivery
from sqlalchemy import func, select

EMAIL = "buyer-secret@example.com"


def order_confirmed() -> OrderConfirmed:
    return OrderConfirmed(
        producer="orders",
        correlation_id="corr-42",
        campaign_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        buyer_number=3,
        amount_cents=2500,
        currency="usd",
        buyer_email=EMAIL,
        buyer_phone="+15555550123",
        campaign_title="Linen tote",
        campaign_min_orders=10,
        campaign_deadline=datetime(2031, 1, 2, 9, 30, tzinfo=UTC),
    )


async def handle(db: Database, event: OrderConfirmed, mailer: RecordingMailer) -> None:
    async with db.unit_of_work() as uow:
        await on_order_confirmed(event, uow, mailer)


async def deliveries(db: Database) -> list[Delivery]:
    async with db.sessions() as session:
        return list((await session.scalars(select(Delivery))).all())


async def outbox(db: Database) -> list[NotificationSent]:
    async with db.sessions() as session:
        payloads = (await session.scalars(select(outbox_table.c.payload))).all()
    events = [parse_event(p) for p in payloads]
    assert all(isinstance(e, NotificationSent) for e in events)
    return [e for e in events if isinstance(e, NotificationSent)]


async def test_sends_once_marks_sent_and_emits(db: Database) -> None:
    event = order_confirmed()
    mailer = RecordingMailer()
    await handle(db, event, mailer)

    [message] = mailer.sent
    assert message["To"] == EMAIL
    assert message["Subject"] == "You're buyer #3 for Linen tote"
    did = delivery_id(event.event_id, "buyer", "email")
    assert delivery_id_of(message) == did

    [row] = await deliveries(db)
    assert (row.id, row.source_event_id, row.campaign_id) == (
        did,
        event.event_id,
        event.campaign_id,
    )
    assert (row.recipient_kind, row.channel, row.template) == ("buyer", "email", "order_confirmed")
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
    assert row.sent_at is not None

    [sent] = await outbox(db)
    assert sent.notification_id == did
    assert sent.source_event_id == event.event_id
    assert sent.campaign_id == event.campaign_id
    assert (sent.channel, sent.template, sent.recipient_kind) == (
        "email",
        "order_confirmed",
        "buyer",
    )
    assert sent.correlation_id == event.correlation_id
    assert sent.causation_id == str(event.event_id)
    assert sent.producer == "notifications"
    assert EMAIL.encode() not in serialize(sent)


async def test_duplicate_event_sends_nothing(db: Database) -> None:
    event = order_confirmed()
    mailer = RecordingMailer()
    await handle(db, event, mailer)
    await handle(db, event, mailer)
    assert len(mailer.sent) == 1
    assert len(await deliveries(db)) == 1
    assert len(await outbox(db)) == 1


async def test_concurrent_instances_send_once(db: Database) -> None:
    """Two instances handling the same event at once (no inbox in between): one email."""
    event = order_confirmed()

    class SlowMailer(RecordingMailer):
        async def send(self, message: EmailMessage) -> None:
            await asyncio.sleep(0.2)
            await super().send(message)

    mailer = SlowMailer()
    await asyncio.gather(*(handle(db, event, mailer) for _ in range(3)))
    assert len(mailer.sent) == 1
    assert len(await outbox(db)) == 1


async def test_transient_failure_rolls_back_and_retry_resends_same_message_id(
    db: Database,
) -> None:
    event = order_confirmed()
    mailer = RecordingMailer()
    mailer.fail_with = TransientDeliveryError("SMTPServerDisconnected")
    with pytest.raises(TransientDeliveryError):
        await handle(db, event, mailer)
    assert await deliveries(db) == []
    assert await outbox(db) == []

    mailer.fail_with = None
    await handle(db, event, mailer)
    [message] = mailer.sent
    assert delivery_id_of(message) == delivery_id(event.event_id, "buyer", "email")
    [row] = await deliveries(db)
    assert row.status == "sent"


async def test_permanent_failure_is_recorded_and_not_retried(db: Database) -> None:
    event = order_confirmed()
    mailer = RecordingMailer()
    mailer.fail_with = PermanentDeliveryError("recipient refused: SMTP 550")
    await handle(db, event, mailer)
    [row] = await deliveries(db)
    assert (row.status, row.attempts, row.last_error) == (
        "failed",
        1,
        "recipient refused: SMTP 550",
    )
    assert row.sent_at is None
    assert await outbox(db) == []

    mailer.fail_with = None
    await handle(db, event, mailer)
    assert mailer.sent == []


class NoDeadLetters:
    async def dead_letter(
        self, topic: str, key: bytes | None, value: bytes, headers: Mapping[str, str]
    ) -> None:
        raise AssertionError(f"unexpected dead letter: {headers.get('dlq-error')}")


async def test_through_the_runtime_consumer_redelivery_is_deduplicated(db: Database) -> None:
    event = order_confirmed()
    mailer = RecordingMailer()

    async def handler(e: OrderConfirmed, uow: UnitOfWork) -> None:
        await on_order_confirmed(e, uow, mailer)

    consumer = EventConsumer(
        "notifications", db, {OrderConfirmed: handler}, NoDeadLetters(), backoff_base_s=0.01
    )
    record = Record(topic_for(event).name, 0, 7, event.key.encode(), serialize(event), [])
    await consumer.handle(record)
    await consumer.handle(record)
    assert len(mailer.sent) == 1
    assert len(await outbox(db)) == 1


async def test_through_the_runtime_consumer_transient_failure_is_retried(db: Database) -> None:
    event = order_confirmed()
    calls = 0

    class FlakyMailer(RecordingMailer):
        async def send(self, message: EmailMessage) -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise TransientDeliveryError("SMTPConnectError")
            await super().send(message)

    mailer = FlakyMailer()

    async def handler(e: OrderConfirmed, uow: UnitOfWork) -> None:
        await on_order_confirmed(e, uow, mailer)

    consumer = EventConsumer(
        "notifications", db, {OrderConfirmed: handler}, NoDeadLetters(), backoff_base_s=0.01
    )
    await consumer.handle(
        Record(topic_for(event).name, 0, 8, event.key.encode(), serialize(event), [])
    )
    assert calls == 2
    assert len(mailer.sent) == 1
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Delivery)) == 1
