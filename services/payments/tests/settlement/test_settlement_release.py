"""Releasing an authorization when the buyer cancels: the gateway against localstripe and
on_order_cancelled on real PostgreSQL (it records the cancel and queues the release; the
worker's lane makes the Stripe call)."""

import uuid
from typing import Any

import pytest
import stripe
from dropwave_contracts.events import OrderPlaced, PaymentReleased
from dropwave_contracts.topics import parse_event
from dropwave_runtime.db import Database, outbox_table
from payments.authorization.handlers import on_order_cancelled, on_orders_placed
from payments.models import Payment, SettlementItem
from payments.settlement.worker import WorkerConfig
from payments.stripe_gateway import AuthorizationRequest, StripeGateway
from sqlalchemy import select

from ..conftest import cancelled


def placed(payment_method_id: str) -> OrderPlaced:
    return OrderPlaced(
        producer="orders",
        correlation_id=f"corr-{uuid.uuid4().hex[:8]}",
        campaign_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        buyer_number=3,
        amount_cents=2500,
        currency="eur",
        buyer_email="buyer@example.com",
        buyer_phone=None,
        payment_method_id=payment_method_id,
    )


async def released_events(db: Database) -> list[PaymentReleased]:
    async with db.sessions() as s:
        payloads = await s.scalars(select(outbox_table.c.payload).order_by(outbox_table.c.id))
        return [e for e in map(parse_event, payloads) if isinstance(e, PaymentReleased)]


async def status_of(db: Database, order_id: uuid.UUID) -> Payment:
    async with db.sessions() as s:
        row = await s.get(Payment, order_id)
    assert row is not None
    return row


async def test_release_cancels_the_intent_and_is_idempotent(gateway: StripeGateway) -> None:
    order_id = uuid.uuid4()
    result = await gateway.authorize(
        AuthorizationRequest(order_id, uuid.uuid4(), 2500, "eur", "pm_card_visa")
    )
    assert result.payment_intent_id is not None
    await gateway.release(result.payment_intent_id, order_id)
    intent = await gateway.client.v1.payment_intents.retrieve_async(result.payment_intent_id)
    assert intent.status == "canceled"
    await gateway.release(result.payment_intent_id, order_id)  # already canceled: fine


async def test_release_of_an_unknown_intent_is_raised(gateway: StripeGateway) -> None:
    with pytest.raises(stripe.InvalidRequestError):
        await gateway.release("pi_doesnotexist", uuid.uuid4())


async def test_cancelled_order_releases_its_hold_once(
    db: Database, gateway: StripeGateway, run_queue: Any
) -> None:
    order = placed("pm_card_visa")
    async with db.unit_of_work() as uow:
        await on_orders_placed([order], uow)
    await run_queue(order.order_id)
    intent_id = (await status_of(db, order.order_id)).payment_intent_id
    assert intent_id is not None

    event = cancelled(order)
    for _ in range(2):  # the same cancellation again (another event id) changes nothing
        async with db.unit_of_work() as uow:
            await on_order_cancelled(cancelled(order) if _ else event, uow)
    row = await status_of(db, order.order_id)
    assert (row.status, row.cancel_requested_at is not None) == ("authorized", True)
    assert await released_events(db) == [], "the handler calls no Stripe"
    await run_queue(order.order_id)

    assert (await status_of(db, order.order_id)).status == "released"
    (released,) = await released_events(db)
    assert (released.order_id, released.payment_intent_id) == (order.order_id, intent_id)
    assert released.causation_id == str(event.event_id)
    assert released.correlation_id == order.correlation_id
    intent = await gateway.client.v1.payment_intents.retrieve_async(intent_id)
    assert intent.status == "canceled"


async def test_a_failed_payment_has_nothing_to_release(
    db: Database, gateway: StripeGateway, run_queue: Any
) -> None:
    order = placed("pm_card_chargeCustomerFail")
    async with db.unit_of_work() as uow:
        await on_orders_placed([order], uow)
    await run_queue(order.order_id)
    async with db.unit_of_work() as uow:
        await on_order_cancelled(cancelled(order, was_confirmed=False), uow)
    await run_queue(order.order_id)
    assert (await status_of(db, order.order_id)).status == "failed"
    assert await released_events(db) == []


async def test_a_failed_release_leaves_the_payment_held_and_queued(
    db: Database, run_queue: Any
) -> None:
    class Down:
        async def release(self, payment_intent_id: str, order_id: uuid.UUID, **_: Any) -> None:
            raise stripe.APIConnectionError("stripe is down")

    order = placed("pm_card_visa")
    async with db.unit_of_work() as uow:
        uow.session.add(
            Payment(
                order_id=order.order_id,
                campaign_id=order.campaign_id,
                payment_intent_id=f"pi_{uuid.uuid4().hex}",
                status="authorized",
                amount_cents=2500,
                currency="eur",
            )
        )
    async with db.unit_of_work() as uow:
        await on_order_cancelled(cancelled(order), uow)
    slow = WorkerConfig(retry_base_s=30, retry_max_s=30)
    assert await run_queue(order.order_id, Down(), slow) == 1, "one attempt, then backoff"
    assert (await status_of(db, order.order_id)).status == "authorized"
    assert await released_events(db) == []
    async with db.sessions() as s:
        item = await s.get(SettlementItem, (order.order_id, "release"))
    assert item is not None
    assert (item.status, item.attempts, item.last_error) == (
        "queued",
        1,
        "APIConnectionError",
    )
