"""Refunds: partly then fully, never more than captured, only by the campaign's owner (or an
operator), one at a time. Real PostgreSQL, the real SDK against the emulator."""

import asyncio
import uuid

import pytest
from dropwave_contracts.events import (
    PaymentRefunded,
)
from dropwave_devstack.stripe_emulator import LocalStripe
from dropwave_runtime.db import Database
from dropwave_runtime.errors import Conflict, DomainError, NotFound
from payments.refunds.commands import RefundOrder
from payments.refunds.handlers import refund_order
from payments.stripe_gateway import StripeGateway

from ..conftest import (
    authorize,
    captured_order,
    events,
    onboarded_campaign,
    payment,
    placed,
)


async def test_refunds_partly_then_fully_never_more(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe
) -> None:
    row, creator = await captured_order(db, gateway, localstripe)
    client = gateway.client
    first = await refund_order(RefundOrder(row.order_id, 600, creator), db, gateway)
    assert (first.amount_cents, first.refunded_cents, first.status) == (600, 600, "captured")
    with pytest.raises(DomainError) as too_much:
        await refund_order(RefundOrder(row.order_id, 1901, creator), db, gateway)
    assert isinstance(too_much.value, Conflict)
    assert too_much.value.code == "refund_exceeds_captured"
    rest = await refund_order(RefundOrder(row.order_id, None, None), db, gateway)  # operator
    assert (rest.amount_cents, rest.refunded_cents, rest.status) == (1900, 2500, "refunded")
    with pytest.raises(DomainError) as again:
        await refund_order(RefundOrder(row.order_id, 1, creator), db, gateway)
    assert again.value.code == "not_refundable"

    refunded = await events(db, PaymentRefunded)
    assert [e.amount_cents for e in refunded] == [600, 1900]
    assert {e.order_id for e in refunded} == {row.order_id}
    assert row.payment_intent_id is not None
    stripe_refunds = await client.v1.refunds.list_async({"payment_intent": row.payment_intent_id})
    assert sorted(r.amount for r in stripe_refunds.data) == [600, 1900]


async def test_refund_owner_check_and_not_captured(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe
) -> None:
    row, _creator = await captured_order(db, gateway, localstripe)
    with pytest.raises(DomainError) as stranger:
        await refund_order(RefundOrder(row.order_id, 100, "user_someone_else"), db, gateway)
    assert isinstance(stranger.value, NotFound)
    assert stranger.value.code == "payment_not_found"
    with pytest.raises(DomainError) as unknown:
        await refund_order(RefundOrder(uuid.uuid4(), 100, None), db, gateway)
    assert isinstance(unknown.value, NotFound)
    campaign_id, owner = await onboarded_campaign(db, gateway, localstripe)
    held = await authorize(db, gateway, placed("pm_card_visa", campaign_id))
    with pytest.raises(DomainError) as not_captured:
        await refund_order(RefundOrder(held.order_id, None, owner), db, gateway)
    assert isinstance(not_captured.value, Conflict)
    assert not_captured.value.code == "not_refundable"
    assert await events(db, PaymentRefunded) == []
    assert (await payment(db, row.order_id)).refunded_cents == 0


async def test_concurrent_refunds_never_exceed_the_capture(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe
) -> None:
    row, creator = await captured_order(db, gateway, localstripe)
    results = await asyncio.gather(
        *(refund_order(RefundOrder(row.order_id, 1500, creator), db, gateway) for _ in range(3)),
        return_exceptions=True,
    )
    ok = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert (len(ok), len(refused)) == (1, 2)
    assert (await payment(db, row.order_id)).refunded_cents == 1500
