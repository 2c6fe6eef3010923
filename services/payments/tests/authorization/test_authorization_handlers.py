"""on_orders_placed on real PostgreSQL: it records and queues (no Stripe call); the worker's
lane authorizes through the real gateway against localstripe."""

import asyncio
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from dropwave_contracts.events import (
    OrderCancelled,
    OrderPlaced,
    PaymentActionRequired,
    PaymentAuthorized,
    PaymentFailed,
)
from dropwave_contracts.topics import parse_event, serialize
from dropwave_runtime.consumer import EventConsumer, Record
from dropwave_runtime.db import Database, inbox_table, outbox_table
from payments.authorization.handlers import on_order_cancelled, on_orders_placed
from payments.bootstrap import SERVICE
from payments.domain import AuthorizationResult
from payments.models import Payment, SettlementItem
from payments.stripe_gateway import AuthorizationRequest, StripeGateway
from sqlalchemy import func, select


@dataclass
class CountingGateway:
    inner: StripeGateway
    calls: list[AuthorizationRequest] = field(default_factory=list)

    async def authorize(self, order: AuthorizationRequest, **kw: Any) -> AuthorizationResult:
        self.calls.append(order)
        return await self.inner.authorize(order, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def placed(payment_method_id: str | None, order_id: uuid.UUID | None = None) -> OrderPlaced:
    return OrderPlaced(
        producer="orders",
        correlation_id=f"corr-{uuid.uuid4().hex[:8]}",
        campaign_id=uuid.uuid4(),
        order_id=order_id or uuid.uuid4(),
        buyer_number=7,
        amount_cents=4200,
        currency="eur",
        buyer_email="buyer@example.com",
        buyer_phone=None,
        payment_method_id=payment_method_id,
    )


async def handle(db: Database, event: OrderPlaced) -> None:
    async with db.unit_of_work() as uow:
        await on_orders_placed([event], uow)


async def outbox(db: Database) -> list[object]:
    async with db.sessions() as s:
        rows = (await s.execute(select(outbox_table.c.payload).order_by(outbox_table.c.id))).all()
    return [parse_event(r.payload) for r in rows]


async def payment(db: Database, order_id: uuid.UUID) -> Payment:
    async with db.sessions() as s:
        row = await s.get(Payment, order_id)
    assert row is not None
    return row


async def test_order_placed_only_records_and_queues(db: Database) -> None:
    """No gateway at all: the handler cannot call Stripe."""
    event = placed("pm_card_visa")
    await handle(db, event)
    row = await payment(db, event.order_id)
    assert (row.status, row.payment_intent_id) == ("pending", None)
    assert (row.amount_cents, row.currency, row.campaign_id) == (4200, "eur", event.campaign_id)
    async with db.sessions() as s:
        items = (await s.scalars(select(SettlementItem))).all()
    assert [(i.order_id, i.kind, i.status, i.attempts) for i in items] == [
        (event.order_id, "authorize", "queued", 0)
    ]
    assert items[0].causation_id == str(event.event_id)
    assert await outbox(db) == []


async def test_authorized_order_emits_payment_authorized(
    db: Database, gateway: StripeGateway, run_queue: Any
) -> None:
    gw = CountingGateway(gateway)
    event = placed("pm_card_visa")
    await handle(db, event)
    assert await run_queue(gateway_=gw) == 1

    row = await payment(db, event.order_id)
    assert row.status == "authorized"
    assert row.payment_intent_id is not None
    assert row.customer_id is not None
    [emitted] = await outbox(db)
    assert isinstance(emitted, PaymentAuthorized)
    assert emitted.payment_intent_id == row.payment_intent_id
    assert (emitted.order_id, emitted.campaign_id) == (event.order_id, event.campaign_id)
    assert emitted.correlation_id == event.correlation_id
    assert emitted.causation_id == str(event.event_id)
    assert emitted.producer == "payments"
    assert emitted.capture_before is not None


async def test_same_order_again_is_not_sent_to_stripe_twice(
    db: Database, gateway: StripeGateway, run_queue: Any
) -> None:
    gw = CountingGateway(gateway)
    first = placed("pm_card_visa")
    await handle(db, first)
    await run_queue(gateway_=gw)
    again = placed("pm_card_visa", order_id=first.order_id)  # new event id, same order
    await handle(db, again)
    await run_queue(gateway_=gw)

    assert len(gw.calls) == 1
    assert len(await outbox(db)) == 1


async def test_declined_order_emits_payment_failed(
    db: Database, gateway: StripeGateway, run_queue: Any
) -> None:
    event = placed("pm_card_chargeCustomerFail")
    await handle(db, event)
    await run_queue()

    row = await payment(db, event.order_id)
    assert (row.status, row.failure_code) == ("failed", "card_declined")
    [emitted] = await outbox(db)
    assert isinstance(emitted, PaymentFailed)
    assert emitted.failure_code == "card_declined"
    assert emitted.message


async def test_order_without_payment_method_requires_action(
    db: Database, gateway: StripeGateway, run_queue: Any
) -> None:
    event = placed(None)
    await handle(db, event)
    await run_queue()

    row = await payment(db, event.order_id)
    assert row.status == "requires_action"
    [emitted] = await outbox(db)
    assert isinstance(emitted, PaymentActionRequired)
    assert emitted.payment_intent_id == row.payment_intent_id
    assert emitted.client_secret.startswith(emitted.payment_intent_id)


async def test_a_cancel_before_its_order_placed_is_never_authorized(db: Database) -> None:
    """OrderPlaced dead-lettered, OrderCancelled handled, then the dead letter replayed: the
    payment is recorded released and no authorization is queued."""
    event = placed("pm_card_visa")
    cancelled = OrderCancelled(
        producer="orders",
        correlation_id="c",
        campaign_id=event.campaign_id,
        order_id=event.order_id,
        buyer_number=event.buyer_number,
        reason="buyer_cancelled",
        was_confirmed=False,
    )
    async with db.unit_of_work() as uow:
        await on_order_cancelled(cancelled, uow)
    await handle(db, event)  # the replay
    row = await payment(db, event.order_id)
    assert (row.status, row.payment_intent_id) == ("released", None)
    assert row.cancel_requested_at is not None
    async with db.sessions() as s:
        kinds = {i.kind for i in (await s.scalars(select(SettlementItem))).all()}
    assert kinds == {"release"}


async def test_a_run_of_orders_records_each_once_in_one_call(db: Database) -> None:
    """The consumer's run (a drop's orders polled together): each new order recorded and
    queued, with its own correlation and causation; one already recorded (another event id)
    left as it was; one cancelled first recorded released and never queued."""
    known, fresh, cancelled_first = placed("pm_card_visa"), placed("pm_card_visa"), placed(None)
    await handle(db, known)
    async with db.unit_of_work() as uow:
        await on_order_cancelled(
            OrderCancelled(
                producer="orders",
                correlation_id="c",
                campaign_id=cancelled_first.campaign_id,
                order_id=cancelled_first.order_id,
                buyer_number=1,
                reason="buyer_cancelled",
                was_confirmed=False,
            ),
            uow,
        )
    again = placed("pm_card_mastercard", order_id=known.order_id)
    others = [placed("pm_card_visa") for _ in range(3)]

    async with db.unit_of_work() as uow:
        await on_orders_placed([again, fresh, cancelled_first, *others], uow)

    assert (await payment(db, known.order_id)).payment_method_id == "pm_card_visa"
    for event in [fresh, *others]:
        row = await payment(db, event.order_id)
        assert (row.status, row.amount_cents, row.correlation_id) == (
            "pending",
            4200,
            event.correlation_id,
        )
    row = await payment(db, cancelled_first.order_id)
    assert (row.status, row.cancel_requested_at is not None) == ("released", True)
    async with db.sessions() as s:
        items = (await s.scalars(select(SettlementItem))).all()
    queued = {(i.order_id, i.kind): i for i in items}
    assert set(queued) == {
        *((e.order_id, "authorize") for e in [known, fresh, *others]),
        (cancelled_first.order_id, "release"),
    }
    for event in [fresh, *others]:
        item = queued[event.order_id, "authorize"]
        assert (item.correlation_id, item.causation_id) == (
            event.correlation_id,
            str(event.event_id),
        )


async def test_runs_record_each_order_once_when_postgresql_freezes_and_a_batch_dies(
    db: Database, postgres_server: Any
) -> None:
    """The consumer's run path under stalls: PostgreSQL (every server process) is frozen
    for 0.1 s in every 0.2 s while 150 orders of one campaign arrive in polled batches of
    10, delivered again and again (at least once) until the freezes have caught them several
    times, and one batch's handling is cancelled mid-way (a consumer that dies). Whatever
    point a freeze or the cancel finds a run at, each order ends with one payment, one
    queued authorization and one inbox row."""
    server = postgres_server.embedded
    if server is None:
        pytest.skip("needs the suite's embedded PostgreSQL (to freeze it)")
    campaign = uuid.uuid4()
    orders = [
        placed("pm_card_visa").model_copy(update={"campaign_id": campaign}) for _ in range(150)
    ]
    recs = [
        Record("orders.v1", 0, i, campaign.hex.encode(), serialize(e), [])
        for i, e in enumerate(orders)
    ]
    batches = [recs[i : i + 10] for i in range(0, len(recs), 10)]
    consumer = EventConsumer("payments", db, SERVICE.events, NoDeadLetters())
    stop, freezes = threading.Event(), 0

    def freezing() -> None:
        nonlocal freezes
        while not stop.is_set():
            server.freeze()
            freezes += 1
            time.sleep(0.1)
            server.thaw()
            stop.wait(0.1)

    freezer = threading.Thread(target=freezing, daemon=True)
    freezer.start()
    try:
        dying = asyncio.create_task(consumer.handle_batch(recs[40:80], 8))
        await asyncio.sleep(0.05)
        dying.cancel()
        await asyncio.gather(dying, return_exceptions=True)
        # Rounds of redelivery until the stalls have bitten, bounded in count and in time: a
        # round of duplicates is quick, so a count alone can end before five freezes.
        until = time.monotonic() + 30
        for _ in range(1000):
            for batch in batches:
                await asyncio.wait_for(consumer.handle_batch(batch, 8), 30)
            if freezes >= 5 or time.monotonic() > until:
                break
    finally:
        stop.set()
        freezer.join(5)
        server.thaw()

    assert freezes >= 5, f"only {freezes} freezes"
    async with db.sessions() as s:
        payments = Counter(await s.scalars(select(Payment.order_id)))
        authorize = select(SettlementItem.order_id).where(SettlementItem.kind == "authorize")
        items = Counter(await s.scalars(authorize))
        claimed = await s.scalar(
            select(func.count())
            .select_from(inbox_table)
            .where(inbox_table.c.consumer == "payments")
        )
    assert payments == Counter({o.order_id: 1 for o in orders})
    assert items == Counter({o.order_id: 1 for o in orders})
    assert claimed == 150


class NoDeadLetters:
    async def dead_letter(self, *args: Any) -> None:
        raise AssertionError("nothing here may be dead-lettered")
