"""Orders follows settlement: PaymentCaptured / PaymentCaptureFailed / PaymentReleased move
the order's status (forward only; duplicates and late events change nothing)."""

import uuid
from collections.abc import Awaitable, Callable

from dropwave_contracts.events import PaymentCaptured, PaymentCaptureFailed, PaymentReleased
from dropwave_runtime.db import Database
from orders.handlers import (
    on_payment_capture_failed,
    on_payment_captured,
    on_payment_released,
)
from orders.models import Order

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
