"""Reconciliation: statuses and refunded amounts against Stripe's, reported, and repaired
forward only. Real PostgreSQL, the real SDK against the emulator."""

import uuid
from typing import Any

import pytest
from dropwave_contracts.events import (
    PaymentCaptured,
    PaymentRefunded,
)
from dropwave_devstack.stripe_emulator import LocalStripe
from dropwave_runtime.db import Database
from dropwave_runtime.errors import DomainError
from payments.models import Payment
from payments.reconciliation.handlers import reconcile
from payments.refunds.commands import RefundOrder
from payments.refunds.handlers import refund_order
from payments.stripe_gateway import StripeGateway

from ..conftest import (
    authorize,
    captured_order,
    events,
    payment,
    placed,
)


async def test_reconcile_reports_then_repairs_forward_drift_only(
    db: Database, gateway: StripeGateway
) -> None:
    behind = await authorize(db, gateway, placed("pm_card_visa", uuid.uuid4()))
    ahead = await authorize(db, gateway, placed("pm_card_visa", uuid.uuid4()))
    assert behind.payment_intent_id is not None
    # Stripe captured `behind` but we missed the webhook; we believe `ahead` captured but
    # Stripe still holds it (backwards: reported, never "repaired").
    await gateway.client.v1.payment_intents.capture_async(behind.payment_intent_id)
    async with db.unit_of_work() as uow:
        row = await uow.session.get(Payment, ahead.order_id)
        assert row is not None
        row.status = "captured"

    report = {d.order_id: d for d in await reconcile(db, gateway, repair=False)}
    assert report[str(behind.order_id)].repairable
    assert (report[str(behind.order_id)].ours, report[str(behind.order_id)].stripe) == (
        "authorized",
        "succeeded",
    )
    assert not report[str(ahead.order_id)].repairable
    assert (await payment(db, behind.order_id)).status == "authorized"  # report changes nothing
    assert await events(db, PaymentCaptured) == []

    repaired = {d.order_id: d for d in await reconcile(db, gateway, repair=True)}
    assert repaired[str(behind.order_id)].repaired
    assert not repaired[str(ahead.order_id)].repaired
    assert (await payment(db, behind.order_id)).status == "captured"
    [captured] = await events(db, PaymentCaptured)
    assert captured.order_id == behind.order_id
    again = {d.order_id for d in await reconcile(db, gateway, repair=True)}
    assert str(behind.order_id) not in again
    assert len(await events(db, PaymentCaptured)) == 1


async def test_reconcile_compares_refunded_amounts_and_records_missed_refunds(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe
) -> None:
    client = gateway.client
    row, creator = await captured_order(db, gateway, localstripe)  # 2500 captured
    assert row.payment_intent_id is not None
    await refund_order(RefundOrder(row.order_id, 600, creator), db, gateway)  # recorded
    # A refund we have no record of (made in the Dashboard, or its commit was lost).
    missed = await client.v1.refunds.create_async(
        {"payment_intent": row.payment_intent_id, "amount": 400}
    )
    # And one payment where we recorded more than Stripe refunded (backwards).
    ahead, _ = await captured_order(db, gateway, localstripe)
    async with db.unit_of_work() as uow:
        locked = await uow.session.get(Payment, ahead.order_id)
        assert locked is not None
        locked.refunded_cents = 300

    def refund_drifts(drifts: list[Any]) -> dict[str, Any]:
        return {d.order_id: d for d in drifts if d.kind == "refunded"}

    report = refund_drifts(await reconcile(db, gateway, repair=False))
    assert set(report) == {str(row.order_id), str(ahead.order_id)}
    behind_drift = report[str(row.order_id)]
    assert (behind_drift.ours, behind_drift.stripe, behind_drift.repairable) == (
        "600",
        "1000",
        True,
    )
    ahead_drift = report[str(ahead.order_id)]
    assert (ahead_drift.ours, ahead_drift.stripe, ahead_drift.repairable) == ("300", "0", False)
    assert (await payment(db, row.order_id)).refunded_cents == 600  # a report changes nothing
    assert len(await events(db, PaymentRefunded)) == 1

    repaired = refund_drifts(await reconcile(db, gateway, repair=True))
    assert repaired[str(row.order_id)].repaired
    assert not repaired[str(ahead.order_id)].repaired
    fixed = await payment(db, row.order_id)
    assert (fixed.refunded_cents, fixed.status) == (1000, "captured")
    assert (await payment(db, ahead.order_id)).refunded_cents == 300  # backwards: untouched
    refunded = await events(db, PaymentRefunded)
    assert [(e.refund_id == missed.id, e.amount_cents) for e in refunded] == [
        (False, 600),
        (True, 400),
    ]
    again = refund_drifts(await reconcile(db, gateway, repair=True))
    assert set(again) == {str(ahead.order_id)}  # repaired once, nothing emitted twice
    assert len(await events(db, PaymentRefunded)) == 2
    # What is left still refunds through our own flow: 2500 - 1000, not 2500 - 600.
    with pytest.raises(DomainError) as too_much:
        await refund_order(RefundOrder(row.order_id, 1501, creator), db, gateway)
    assert too_much.value.code == "refund_exceeds_captured"

    # The rest refunded at Stripe behind our back: repaired to fully refunded.
    await client.v1.refunds.create_async({"payment_intent": row.payment_intent_id})
    final = refund_drifts(await reconcile(db, gateway, repair=True))
    assert final[str(row.order_id)].repaired
    done = await payment(db, row.order_id)
    assert (done.refunded_cents, done.status) == (2500, "refunded")
    assert [e.amount_cents for e in await events(db, PaymentRefunded)] == [600, 400, 1500]


async def test_reconcile_since_looks_only_at_what_was_created_since_and_is_paced(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe
) -> None:
    import asyncio
    from datetime import UTC, datetime

    old = await authorize(db, gateway, placed("pm_card_visa", uuid.uuid4()))
    await asyncio.sleep(1.1)  # Stripe's `created` is in whole seconds
    cut = datetime.now(UTC)
    await asyncio.sleep(1.1)
    new = await authorize(db, gateway, placed("pm_card_visa", uuid.uuid4()))
    for drifted in (old, new):  # both captured at Stripe behind our back
        assert drifted.payment_intent_id is not None
        await gateway.client.v1.payment_intents.capture_async(drifted.payment_intent_id)

    paced: list[None] = []

    async def pace() -> None:
        paced.append(None)

    metered = StripeGateway("sk_test_payments", api_base=localstripe.api_base, pace=pace)
    try:
        recent = {d.order_id for d in await reconcile(db, metered, repair=False, since=cut)}
        everything = {d.order_id for d in await reconcile(db, metered, repair=False)}
    finally:
        await metered.aclose()
    assert str(new.order_id) in recent
    assert str(old.order_id) not in recent
    assert {str(old.order_id), str(new.order_id)} <= everything
    assert len(paced) >= 4  # every page of both listings, both runs, waited for the budget
