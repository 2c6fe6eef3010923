"""Handlers enqueue, workers send: against a real, migrated PostgreSQL, with the recording
mailer and the fake carrier. One message per (event, recipient, channel)."""

import asyncio
import logging
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from dropwave_contracts.events import CampaignUpdated, NotificationSent, OrderConfirmed
from dropwave_contracts.topics import parse_event, serialize, topic_for
from dropwave_runtime.consumer import EventConsumer, Record
from dropwave_runtime.db import Database, UnitOfWork, outbox_table
from notifications import handlers
from notifications.domain import delivery_id
from notifications.mailer import (
    OutgoingEmail,
    PermanentDeliveryError,
    TransientDeliveryError,
    delivery_id_of,
)
from notifications.models import Delivery, OptOut
from notifications.optouts import opt_out
from notifications.sms import FileCarrier
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import asyncpg

from .fakes import RecordingMailer


async def deliveries(db: Database) -> list[Delivery]:
    async with db.sessions() as session:
        return list((await session.scalars(select(Delivery).order_by(Delivery.created_at))).all())


async def outbox(db: Database) -> list[NotificationSent]:
    async with db.sessions() as session:
        payloads = (await session.scalars(select(outbox_table.c.payload))).all()
    events = [parse_event(p) for p in payloads]
    return [e for e in events if isinstance(e, NotificationSent)]


def to(messages: list[EmailMessage]) -> list[tuple[str, str]]:
    return sorted((str(m["To"]), str(m["Subject"])) for m in messages)


async def test_order_confirmed_email_and_sms_once(
    db: Database, handle: Any, drop: Any, worker: Any, mailer: RecordingMailer, carrier: FileCarrier
) -> None:
    confirmed = drop.confirmed(3)
    await handle(drop.published(), drop.placed(3), confirmed)
    assert mailer.sent == []  # handlers only enqueue
    assert await worker.drain() == 2

    [message] = mailer.sent
    assert message["To"] == drop.email(3)
    assert message["Subject"] == "You're buyer #3 for Linen tote"
    email_id = delivery_id(confirmed.event_id, "buyer", "email", str(drop.orders[3]))
    assert delivery_id_of(message) == email_id
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "https://drops.example/api/v1/notifications/unsubscribe?token=" in str(
        message["List-Unsubscribe"]
    )
    [sms] = carrier.sent
    assert sms.to == drop.phone(3)
    assert "buyer #3 for Linen tote" in sms.body
    assert "Reply STOP" in sms.body

    rows = await deliveries(db)
    assert {(r.channel, r.status, r.attempts) for r in rows} == {
        ("email", "sent", 1),
        ("sms", "sent", 1),
    }
    assert all(r.sent_at is not None and r.lease_until is None for r in rows)
    sms_row = next(r for r in rows if r.channel == "sms")
    assert sms_row.provider_message_id == f"SM{sms_row.id.hex}"

    sent = await outbox(db)
    assert {(e.channel, e.template, e.recipient_kind) for e in sent} == {
        ("email", "order_confirmed", "buyer"),
        ("sms", "order_confirmed", "buyer"),
    }
    assert {e.notification_id for e in sent} == {r.id for r in rows}
    assert all(e.correlation_id == "order-3" for e in sent)
    assert all(e.causation_id == str(confirmed.event_id) for e in sent)
    assert all(drop.email(3).encode() not in serialize(e) for e in sent)

    assert await worker.drain() == 0  # nothing left, nothing sent twice
    assert len(mailer.sent) == 1
    assert len(carrier.sent) == 1


async def test_sms_needs_phone_and_consent(
    db: Database, handle: Any, drop: Any, worker: Any, carrier: FileCarrier
) -> None:
    await handle(
        drop.placed(1, consent=False),
        drop.confirmed(1),
        drop.placed(2, phone=False),
        drop.confirmed(2, phone=False),
        drop.placed(3),
        drop.confirmed(3),
    )
    await worker.drain()
    assert [m.to for m in carrier.sent] == [drop.phone(3)]
    assert len(await deliveries(db)) == 4


async def test_duplicate_and_concurrent_events_send_once(
    db: Database, drop: Any, worker: Any, mailer: RecordingMailer
) -> None:
    event = drop.confirmed(1, phone=False)

    async def without_inbox() -> None:
        async with db.unit_of_work() as uow:
            await handlers.handle(event, uow)

    await asyncio.gather(*(without_inbox() for _ in range(4)))
    await without_inbox()
    await worker.drain()
    assert len(mailer.sent) == 1
    assert len(await deliveries(db)) == 1
    assert len(await outbox(db)) == 1


def slow(mailer: RecordingMailer, seconds: float) -> RecordingMailer:
    """A mailer that takes ``seconds`` per message and records what it sends in ``mailer``."""

    class Slow(RecordingMailer):
        async def send(self, message: OutgoingEmail) -> str | None:
            await asyncio.sleep(seconds)
            return await mailer.send(message)

    return Slow()


async def test_several_workers_share_the_queue_and_send_each_once(
    db: Database, handle: Any, make_drop: Any, make_worker: Any, mailer: RecordingMailer
) -> None:
    drop = make_drop(min_orders=120)
    await handle(drop.published(creator_email=None))
    await handle(*(drop.confirmed(n, phone=False) for n in range(1, 121)))

    email = slow(mailer, 0.002)
    workers = [make_worker(email=email, batch_size=7, concurrency=3) for _ in range(4)]
    await asyncio.gather(*(w.drain() for w in workers))
    ids = [delivery_id_of(m) for m in mailer.sent]
    assert len(ids) == 120
    assert len(set(ids)) == 120
    assert {r.status for r in await deliveries(db)} == {"sent"}


async def test_the_next_batch_is_claimed_while_the_last_sends_of_one_are_in_flight(
    db: Database, handle: Any, make_drop: Any, make_worker: Any, mailer: RecordingMailer
) -> None:
    """Batches overlap (issue 15): a claim does not wait for the previous batch's tail, and
    every message still goes once."""
    drop = make_drop(min_orders=100)
    await handle(drop.published(creator_email=None))
    await handle(*(drop.confirmed(n, phone=False) for n in range(1, 13)))
    in_flight = 0

    class Slow(RecordingMailer):
        async def send(self, message: OutgoingEmail) -> str | None:
            nonlocal in_flight
            in_flight += 1
            try:
                await asyncio.sleep(0.01)
                return await mailer.send(message)
            finally:
                in_flight -= 1

    worker = make_worker(email=Slow(), batch_size=4, concurrency=2)
    claim, sending_at_claims = worker._claim, []

    async def counting_claim() -> Any:
        sending_at_claims.append(in_flight)
        return await claim()

    worker._claim = counting_claim
    assert await worker.drain() == 12
    ids = [delivery_id_of(m) for m in mailer.sent]
    assert len(ids) == len(set(ids)) == 12
    assert {r.status for r in await deliveries(db)} == {"sent"}
    assert any(sending_at_claims[1:]), sending_at_claims  # claimed with sends in flight


async def test_a_failed_claim_lets_the_sends_under_way_finish_then_raises(
    db: Database, handle: Any, make_drop: Any, make_worker: Any, mailer: RecordingMailer
) -> None:
    drop = make_drop(min_orders=100)
    await handle(drop.published(creator_email=None))
    await handle(*(drop.confirmed(n, phone=False) for n in range(1, 9)))

    worker = make_worker(email=slow(mailer, 0.01), batch_size=4, concurrency=2)
    claim, claims = worker._claim, 0

    async def failing_second_claim() -> Any:
        nonlocal claims
        claims += 1
        if claims == 2:
            raise ConnectionRefusedError("database away")
        return await claim()

    worker._claim = failing_second_claim
    with pytest.raises(ConnectionRefusedError):
        await worker.drain()
    await worker.recorded()
    assert len(mailer.sent) == 4  # the first batch, whole
    statuses = Counter(r.status for r in await deliveries(db))
    assert statuses == Counter({"sent": 4, "pending": 4})


async def test_every_message_goes_once_when_postgresql_freezes_again_and_again(
    db: Database,
    handle: Any,
    make_drop: Any,
    make_worker: Any,
    mailer: RecordingMailer,
    postgres_server: Any,
) -> None:
    """PostgreSQL (every server process) is frozen for 0.15 s in every 0.35 s while two
    workers drain 120 messages in overlapping batches: claims, slot reservations and grouped
    records stop at whatever point the signal finds them. Every message still goes once,
    every row ends sent, and every send has one NotificationSent."""
    server = postgres_server.embedded
    if server is None:
        pytest.skip("needs the suite's embedded PostgreSQL (to freeze it)")
    drop = make_drop(min_orders=100)
    await handle(drop.published(creator_email=None))
    await handle(*(drop.confirmed(n, phone=False) for n in range(1, 121)))
    stop, freezes = threading.Event(), 0

    def freezing() -> None:
        nonlocal freezes
        while not stop.is_set():
            server.freeze()
            freezes += 1
            time.sleep(0.15)
            server.thaw()
            stop.wait(0.2)

    freezer = threading.Thread(target=freezing, daemon=True)
    freezer.start()
    try:
        email = slow(mailer, 0.04)
        workers = [make_worker(email=email, batch_size=7, concurrency=3) for _ in range(2)]
        await asyncio.wait_for(asyncio.gather(*(w.drain() for w in workers)), 60)
    finally:
        stop.set()
        freezer.join(5)
        server.thaw()
    assert freezes >= 3, f"only {freezes} freezes during the drain"
    ids = [delivery_id_of(m) for m in mailer.sent]
    assert len(ids) == len(set(ids)) == 120
    assert {r.status for r in await deliveries(db)} == {"sent"}
    sent_events = [e.notification_id for e in await outbox(db)]
    assert len(sent_events) == len(set(sent_events)) == 120


async def test_transient_failure_is_retried_with_backoff_then_sent(
    db: Database, handle: Any, drop: Any, worker: Any, mailer: RecordingMailer
) -> None:
    await handle(drop.confirmed(1, phone=False))
    mailer.fail_with = TransientDeliveryError("SMTPServerDisconnected")
    assert await worker.run_once() == 1
    [row] = await deliveries(db)
    assert (row.status, row.attempts, row.last_error) == (
        "pending",
        1,
        "SMTPServerDisconnected",
    )
    assert row.lease_until is None
    assert row.next_attempt_at > datetime.now(UTC) - timedelta(seconds=1)

    mailer.fail_with = None
    await asyncio.sleep(0.1)  # the backoff (0.01-0.05 s in tests)
    await worker.drain()
    [message] = mailer.sent
    [row] = await deliveries(db)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    assert delivery_id_of(message) == row.id


async def retried_out(db: Database, worker: Any) -> Delivery:
    """Drain through every retry (backoff 0.01-0.05 s in tests); the one delivery, which
    must have failed after max_attempts (3 in the tests' config)."""
    for _ in range(10):
        await worker.drain()
        await asyncio.sleep(0.06)
    [row] = await deliveries(db)
    assert row.status == "failed"
    assert row.attempts == 3
    return row


async def test_retries_are_bounded_then_recorded_as_failed(
    db: Database, handle: Any, drop: Any, worker: Any, mailer: RecordingMailer
) -> None:
    await handle(drop.confirmed(1, phone=False))
    mailer.fail_with = TransientDeliveryError("SMTP 421")
    row = await retried_out(db, worker)
    assert row.last_error == "gave up after 3 attempts: SMTP 421"
    assert await outbox(db) == []


async def test_permanent_failure_is_recorded_and_not_retried(
    db: Database, handle: Any, drop: Any, worker: Any, mailer: RecordingMailer
) -> None:
    await handle(drop.confirmed(1, phone=False))
    mailer.fail_with = PermanentDeliveryError("recipient refused: SMTP 550")
    await worker.drain()
    [row] = await deliveries(db)
    assert (row.status, row.attempts, row.last_error) == (
        "failed",
        1,
        "recipient refused: SMTP 550",
    )
    mailer.fail_with = None
    assert await worker.drain() == 0
    assert mailer.sent == []


async def test_opted_out_addresses_are_skipped(
    db: Database, handle: Any, drop: Any, worker: Any, mailer: RecordingMailer, carrier: FileCarrier
) -> None:
    async with db.unit_of_work() as uow:
        await opt_out(uow.session, "email", drop.email(1).upper(), "test")
        await opt_out(uow.session, "sms", drop.phone(2), "test")
    await handle(drop.placed(1), drop.confirmed(1), drop.placed(2), drop.confirmed(2))
    await worker.drain()
    assert [m["To"] for m in mailer.sent] == [drop.email(2)]
    assert [m.to for m in carrier.sent] == [drop.phone(1)]
    statuses = sorted((r.channel, r.status) for r in await deliveries(db))
    assert statuses == [
        ("email", "sent"),
        ("email", "skipped"),
        ("sms", "sent"),
        ("sms", "skipped"),
    ]
    async with db.sessions() as session:
        digests = list(await session.scalars(select(OptOut.address_sha256)))
    assert all("@" not in d and "+" not in d for d in digests)


async def test_expired_lease_is_taken_over_by_exactly_one_worker(
    db: Database, handle: Any, drop: Any, make_worker: Any, mailer: RecordingMailer
) -> None:
    """A worker that claimed rows and died: its lease runs out, another worker sends them."""
    await handle(drop.confirmed(1, phone=False), drop.confirmed(2, phone=False))
    crashed = make_worker(lease_s=30)
    assert len(await crashed._claim()) == 2  # claimed, then "crashed": never sent
    healthy = make_worker()
    assert await healthy.drain() == 0  # leased: not taken
    async with db.sessions() as session, session.begin():
        await session.execute(
            update(Delivery).values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    await asyncio.gather(healthy.drain(), make_worker().drain())
    assert len(mailer.sent) == 2
    assert len({delivery_id_of(m) for m in mailer.sent}) == 2


async def test_a_claim_past_half_its_lease_checks_the_lease_before_sending(
    db: Database, handle: Any, drop: Any, make_worker: Any, mailer: RecordingMailer
) -> None:
    """Sends in the first half of the lease need no renewal; a later one renews the lease
    first, and a row another worker took meanwhile is not sent twice."""
    await handle(drop.confirmed(1, phone=False), drop.confirmed(2, phone=False))
    slow = make_worker(lease_s=30)
    jobs = await slow._claim()
    assert [j.attempts for j in jobs] == [1, 1]  # counted when claimed
    for job in jobs:
        job.claimed_at -= 16  # past half the lease: the worker must ask the database
    async with db.sessions() as session, session.begin():
        # The lease of the first ran out and another worker took it.
        await session.execute(
            update(Delivery)
            .where(Delivery.id == jobs[0].id)
            .values(claimed_by=uuid.uuid4(), lease_until=datetime.now(UTC) + timedelta(minutes=1))
        )
    marks = await asyncio.gather(*(slow._process(job) for job in jobs))
    await asyncio.gather(*(m for m in marks if m is not None))  # the sent one's record
    assert [delivery_id_of(m) for m in mailer.sent] == [jobs[1].id]
    async with db.sessions() as session:
        first = await session.get(Delivery, jobs[0].id)
        assert first is not None
        assert first.status == "pending"  # still the other worker's


async def test_campaign_fanout_tipped_and_late_confirmation_catches_up(
    db: Database, handle: Any, drop: Any, worker: Any, mailer: RecordingMailer
) -> None:
    now = datetime.now(UTC)
    await handle(drop.published())
    await handle(*(drop.confirmed(n, phone=False, at=now - timedelta(seconds=5)) for n in (1, 2)))
    await handle(drop.placed(5, phone=False), drop.confirmed(5, phone=False), drop.cancelled(5))
    tipped = drop.tipped(current=3, at=now)
    await handle(tipped)
    # Buyer 3 was confirmed before the tipping, but orders' event arrives after campaigns'.
    await handle(drop.confirmed(3, phone=False, at=now - timedelta(seconds=1)))
    # Buyer 4 ordered after the tipping: gets the confirmation only.
    await handle(drop.confirmed(4, phone=False, at=now + timedelta(seconds=1)))
    await worker.drain()

    tipped_mail = sorted(
        str(m["To"]) for m in mailer.sent if m["Subject"].startswith("It's happening")
    )
    assert tipped_mail == [drop.email(1), drop.email(2), drop.email(3)]
    creator = [m for m in mailer.sent if m["To"] == "creator-secret@example.com"]
    assert [m["Subject"] for m in creator] == ["Linen tote tipped: 3 orders!"]
    await handle(tipped)  # a duplicate of the tipping: nothing more
    assert await worker.drain() == 0


async def test_every_message_has_one_source(
    db: Database, handle: Any, make_drop: Any, worker: Any, mailer: RecordingMailer
) -> None:
    """Which events produce which messages (email subjects), and for whom."""
    won, lost, dropped = make_drop("Won"), make_drop("Lost"), make_drop("Dropped")
    for d in (won, lost, dropped):
        await handle(d.published(), d.placed(1, phone=False), d.confirmed(1, phone=False))
    await handle(
        won.milestone(25, 1),
        won.succeeded(1),
        won.captured(1),
        won.capture_failed(1),
        won.refunded(1),
        lost.failed(1),
        dropped.campaign_cancelled(),
    )
    await worker.drain()
    got = to(mailer.sent)
    creator = "creator-secret@example.com"
    assert got == sorted(
        [
            (won.email(1), "You're buyer #1 for Won"),
            (lost.email(1), "You're buyer #1 for Lost"),
            (dropped.email(1), "You're buyer #1 for Dropped"),
            (creator, "Won is at 25% of its minimum"),
            (creator, "Won succeeded"),
            (won.email(1), "You've been charged $25.00 for Won"),
            (won.email(1), "Action needed: we couldn't charge your card for Won"),
            (won.email(1), "You've been refunded $10.00 for Won"),
            (lost.email(1), "Lost didn't reach its minimum: your hold is released"),
            (creator, "Lost did not reach its minimum"),
            (dropped.email(1), "Dropped was cancelled: your hold is released"),
        ]
    )


async def test_creator_without_email_gets_nothing_and_nothing_fails(
    db: Database, handle: Any, drop: Any, worker: Any, mailer: RecordingMailer
) -> None:
    await handle(drop.published(creator_email=None), drop.milestone(25, 1), drop.succeeded(4))
    assert await worker.drain() == 0
    assert await deliveries(db) == []


async def test_payment_event_before_the_buyer_is_known_is_retried(
    db: Database, handle: Any, drop: Any
) -> None:
    drop.orders[1] = uuid.uuid4()
    with pytest.raises(LookupError, match=str(drop.orders[1])):  # the runtime retries it
        await handle(drop.captured(1))


class NoDeadLetters:
    async def dead_letter(
        self, topic: str, key: bytes | None, value: bytes, headers: Mapping[str, str]
    ) -> None:
        raise AssertionError(f"unexpected dead letter: {headers.get('dlq-error')}")


async def test_through_the_runtime_consumer_redelivery_is_deduplicated(
    db: Database, drop: Any, worker: Any, mailer: RecordingMailer
) -> None:
    event: OrderConfirmed = drop.confirmed(1, phone=False)

    async def handler(e: OrderConfirmed, uow: UnitOfWork) -> None:
        await handlers.handle(e, uow)

    consumer = EventConsumer(
        "notifications", db, {OrderConfirmed: handler}, NoDeadLetters(), backoff_base_s=0.01
    )
    record = Record(topic_for(event).name, 0, 7, event.key.encode(), serialize(event), [])
    await consumer.handle(record)
    await consumer.handle(record)
    await worker.drain()
    assert len(mailer.sent) == 1
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Delivery)) == 1


async def test_each_pay_later_reminder_reaches_the_buyer_once_with_the_link(
    db: Database, handle: Any, drop: Any, worker: Any, mailer: RecordingMailer, carrier: FileCarrier
) -> None:
    await handle(drop.published(), drop.placed(1), drop.confirmed(1), drop.placed(2, consent=False))
    await handle(drop.confirmed(2), drop.succeeded(2), drop.capture_failed(1))
    await worker.drain()
    mailer.sent.clear()
    carrier.sent.clear()
    first, second = drop.reminder(1, 1), drop.reminder(1, 2)
    await handle(first, first, second, drop.reminder(2, 1))  # the first one delivered twice
    await handle(second)
    assert await worker.drain() == 5  # 2 reminders x (email + SMS) to buyer 1, 1 email to 2
    assert await worker.drain() == 0
    link = f"https://drops.example/pay/{drop.orders[1]}"
    until = "Thursday 9 January 2031, 09:30 UTC"
    subject = f"Reminder: pay for Linen tote by {until} to keep your order"
    mine = [m for m in mailer.sent if m["To"] == drop.email(1)]
    assert [str(m["Subject"]) for m in mine] == [subject, subject]
    assert len({m["Message-ID"] for m in mine}) == 2
    for message in mine:
        for part in ("plain", "html"):
            body = message.get_body((part,))
            assert body is not None
            assert link in body.get_content()
            assert "$25.00" in body.get_content()
            assert "pi_1_secret" not in body.get_content()  # the client secret stays out
    assert [m.to for m in carrier.sent] == [drop.phone(1), drop.phone(1)]  # no consent: no SMS
    assert all(link in m.body and "reminder" in m.body for m in carrier.sent)
    [other] = [m for m in mailer.sent if m["To"] == drop.email(2)]
    other_text = other.get_body(("plain",))
    assert other_text is not None
    assert f"https://drops.example/pay/{drop.orders[2]}" in other_text.get_content()
    sent = [e for e in await outbox(db) if e.template == "payment_reminder"]
    assert len(sent) == 5
    sources = Counter(e.source_event_id for e in sent)
    assert (sources[first.event_id], sources[second.event_id]) == (2, 2)  # email + SMS each


async def test_a_new_title_is_used_by_later_campaign_messages(
    db: Database, handle: Any, drop: Any, worker: Any, mailer: RecordingMailer
) -> None:
    await handle(drop.published(), drop.confirmed(1, phone=False))
    await handle(
        CampaignUpdated(
            producer="campaigns",
            correlation_id="c-edit",
            campaign_id=drop.campaign_id,
            title="Linen tote, second run",
        )
    )
    await handle(drop.tipped(current=4))
    await worker.drain()
    creator = [m["Subject"] for m in mailer.sent if m["To"] == "creator-secret@example.com"]
    assert creator == ["Linen tote, second run tipped: 4 orders!"]


async def test_an_unexpected_error_gives_up_after_the_configured_attempts(
    db: Database,
    handle: Any,
    drop: Any,
    worker: Any,
    mailer: RecordingMailer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Not a DeliveryError (a bug, bad data): retried with backoff like a transient error,
    then failed for good after DELIVERY_MAX_ATTEMPTS: visible in the row, a metric and the
    log, instead of coming back with every lease forever."""
    await handle(drop.confirmed(1, phone=False))
    mailer.fail_with = KeyError("template variable")  # type: ignore[assignment]
    failed_before = REGISTRY.get_sample_value(
        "dropwave_notifications_deliveries_total", {"channel": "email", "outcome": "failed"}
    )
    with caplog.at_level(logging.ERROR, logger="notifications.worker"):
        row = await retried_out(db, worker)
    assert row.last_error == "gave up after 3 attempts: unexpected error: KeyError"
    assert row.lease_until is None
    assert any(r.getMessage() == "notification failed for good" for r in caplog.records)
    failed_after = REGISTRY.get_sample_value(
        "dropwave_notifications_deliveries_total", {"channel": "email", "outcome": "failed"}
    )
    assert failed_after == (failed_before or 0) + 1
    assert await outbox(db) == []


@pytest.mark.parametrize(
    ("statement", "index"),
    [(handlers._TO_ORDER_BUYER, "buyers_pkey"), (handlers._TO_CAMPAIGN_BUYERS, "campaign_id")],
)
async def test_a_buyer_messages_generic_plan_reads_its_buyers_by_index(
    db: Database, statement: Any, index: str
) -> None:
    """A prepared statement runs on a generic plan from its sixth run: for a drop's every
    order message, it must find the buyer by index, not read every buyer of the table."""
    sql = str(statement.compile(dialect=asyncpg.dialect()))
    nulls = ", ".join(["NULL"] * len(set(re.findall(r"\$(\d+)", sql))))
    async with db.sessions() as session:
        await session.execute(text("SET plan_cache_mode = force_generic_plan"))
        await session.execute(text(f"PREPARE fanout AS {sql}"))
        rows = await session.execute(text(f"EXPLAIN EXECUTE fanout({nulls})"))
        plan = "\n".join(row[0] for row in rows)
    assert "Seq Scan on buyers" not in plan, plan
    assert index in plan, plan
