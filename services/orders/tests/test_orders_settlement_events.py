"""Orders follows settlement: PaymentCaptured / PaymentCaptureFailed / PaymentReleased move
the order's status (forward only; duplicates and late events change nothing); PaymentRefunded
adds up on the order (each refund once) and a full refund makes it ``refunded``."""

import uuid
from collections.abc import Awaitable, Callable

import pytest
from dropwave_contracts.events import (
    PaymentCaptured,
    PaymentCaptureFailed,
    PaymentRefunded,
    PaymentReleased,
)
from dropwave_runtime.db import Database
from orders.bootstrap import bootstrap
from orders.handlers import (
    on_payment_capture_failed,
    on_payment_captured,
    on_payment_refunded,
    on_payment_released,
)
from orders.models import Order
from orders.schemas import OrderView
from orders.settings import Settings

from .conftest import AUTH

MakeCampaign = Callable[..., Awaitable[uuid.UUID]]


async def an_order(db: Database, campaign_id: uuid.UUID, status: str, number: int = 1) -> Order:
    order = Order(
        id=uuid.uuid4(),
        campaign_id=campaign_id,
        buyer_number=number,
        status=status,
        amount_cents=2500,
        currency="usd",
        buyer_email="buyer@example.com",
        idempotency_key=uuid.uuid4().hex,
        request_fingerprint="f" * 64,
        payment_intent_id="pi_1",
    )
    async with db.unit_of_work() as uow:
        uow.session.add(order)
    return order


async def status_of(db: Database, order_id: uuid.UUID) -> str:
    async with db.sessions() as s:
        order = await s.get(Order, order_id)
    assert order is not None
    return order.status


def common(order: Order) -> dict[str, object]:
    return {
        "producer": "payments",
        "correlation_id": "corr",
        "campaign_id": order.campaign_id,
        "order_id": order.id,
        "payment_intent_id": "pi_1",
    }


async def test_capture_outcomes_move_the_order(db: Database, make_campaign: MakeCampaign) -> None:
    campaign_id = await make_campaign()
    captured = await an_order(db, campaign_id, "authorized")
    failed = await an_order(db, campaign_id, "authorized", number=2)
    ok = PaymentCaptured(
        amount_cents=2500, currency="usd", application_fee_cents=125, **common(captured)
    )
    ko = PaymentCaptureFailed(
        failure_code="payment_intent_canceled",
        message="no",
        pay_later_until=None,
        **common(failed),
    )
    for _ in range(2):  # a duplicate changes nothing
        async with db.unit_of_work() as uow:
            await on_payment_captured(ok, uow)
            await on_payment_capture_failed(ko, uow)
    assert await status_of(db, captured.id) == "captured"
    assert await status_of(db, failed.id) == "capture_failed"
    async with db.unit_of_work() as uow:  # late released on a captured order: ignored
        await on_payment_released(PaymentReleased(**common(captured)), uow)
    assert await status_of(db, captured.id) == "captured"


async def test_released_hold_cancels_the_order_once(
    db: Database, make_campaign: MakeCampaign
) -> None:
    campaign_id = await make_campaign(status="failed")
    order = await an_order(db, campaign_id, "authorized")
    async with db.unit_of_work() as uow:
        await on_payment_released(PaymentReleased(**common(order)), uow)
    assert await status_of(db, order.id) == "cancelled"


def refunded(order: Order, refund_id: str, cents: int) -> PaymentRefunded:
    return PaymentRefunded(refund_id=refund_id, amount_cents=cents, currency="usd", **common(order))


async def view_of(db: Database, order_id: uuid.UUID) -> OrderView:
    async with db.sessions() as s:
        order = await s.get(Order, order_id)
    return OrderView.model_validate(order, from_attributes=True)


async def test_partial_refunds_add_up_until_the_order_reads_refunded(
    db: Database, make_campaign: MakeCampaign
) -> None:
    order = await an_order(db, await make_campaign(status="successful"), "captured")
    first = refunded(order, "re_1", 1000)
    async with db.unit_of_work() as uow:
        await on_payment_refunded(first, uow)
    view = await view_of(db, order.id)
    assert (view.status, view.refunded_cents) == ("captured", 1000)

    # The same refund again (a redelivery under another event id): counted once.
    again = refunded(order, "re_1", 1000)
    assert again.event_id != first.event_id
    async with db.unit_of_work() as uow:
        await on_payment_refunded(again, uow)
    assert (await view_of(db, order.id)).refunded_cents == 1000

    async with db.unit_of_work() as uow:
        await on_payment_refunded(refunded(order, "re_2", 1500), uow)
    view = await view_of(db, order.id)
    assert (view.status, view.refunded_cents) == ("refunded", 2500)


async def test_a_paid_later_order_refunded_in_full_reads_refunded(
    db: Database, make_campaign: MakeCampaign
) -> None:
    order = await an_order(db, await make_campaign(status="successful"), "capture_failed")
    async with db.unit_of_work() as uow:
        await on_payment_refunded(refunded(order, "re_all", 2500), uow)
    view = await view_of(db, order.id)
    assert (view.status, view.refunded_cents) == ("refunded", 2500)


async def test_a_refund_of_an_unknown_order_is_retried(db: Database) -> None:
    ghost = Order(id=uuid.uuid4(), campaign_id=uuid.uuid4())
    with pytest.raises(LookupError):
        async with db.unit_of_work() as uow:
            await on_payment_refunded(refunded(ghost, "re_x", 100), uow)


def test_the_app_consumes_payment_refunded() -> None:
    settings = Settings.model_validate(
        {
            "database_url": "postgresql+asyncpg://nobody@127.0.0.1:9/none",
            "kafka_bootstrap_servers": "127.0.0.1:9",
            "order_token_secret": "s" * 32,
            **AUTH,
        }
    )
    assert PaymentRefunded in bootstrap(settings).state.runtime._handlers
