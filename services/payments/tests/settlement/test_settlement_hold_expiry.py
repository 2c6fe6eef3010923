"""The authorization window at settlement, when we never heard that a hold expired: the
capture is refused, the saved card is charged off-session instead (exactly once, even when
that answer is lost), ``authentication_required`` goes to the pay-later link, and a
PaymentIntent someone canceled on purpose is never charged. Real PostgreSQL, the real SDK
against the emulator, through the fault proxy."""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from dropwave_contracts.events import CampaignSucceeded, PaymentCaptured, PaymentCaptureFailed
from dropwave_devstack.faults import FaultPlan, FaultProxy
from dropwave_devstack.stripe_emulator import LocalStripe
from dropwave_runtime.db import Database
from dropwave_runtime.rate_limit import PgRateLimiter
from payments.models import Payment
from payments.settlement.handlers import on_campaign_succeeded
from payments.settlement.summary import settlement_summary
from payments.settlement.worker import SettlementWorker, WorkerConfig
from payments.stripe_gateway import StripeGateway

from ..conftest import authorize, events, expire_hold, onboarded_campaign, payment, placed

OFF_SESSION_CREATES = r"^POST /v1/payment_intents$"


async def expire_silently(localstripe: LocalStripe, row: Payment) -> None:
    """Stripe cancels the hold when its window passes; the webhooks never reach us."""
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{localstripe.api_base}/_config/payment_intents/{row.payment_intent_id}/expire"
        )
    response.raise_for_status()


async def intents_of(gateway: StripeGateway, order_id: uuid.UUID) -> list[dict[str, Any]]:
    found = []
    async for intent in gateway.payment_intents():
        data = intent.to_dict()
        if (data.get("metadata") or {}).get("order_id") == str(order_id):
            found.append(data)
    return found


@pytest.mark.timeout(60)
async def test_capture_refused_for_a_gone_hold_falls_back_to_off_session(
    db: Database,
    gateway: StripeGateway,
    localstripe: LocalStripe,
    faulty_gateway: StripeGateway,
    proxy: FaultProxy,
) -> None:
    campaign_id, _ = await onboarded_campaign(db, gateway, localstripe)
    live = await authorize(db, gateway, placed("pm_card_visa", campaign_id))
    silent = await authorize(db, gateway, placed("pm_card_visa", campaign_id))
    needs_auth = await authorize(db, gateway, placed("pm_card_visa", campaign_id))
    canceled = await authorize(db, gateway, placed("pm_card_visa", campaign_id))
    async with db.unit_of_work() as uow:  # a saved card that needs its buyer off-session
        row = await uow.session.get(Payment, needs_auth.order_id)
        assert row is not None
        row.payment_method_id = "pm_card_authenticationRequired"
    for row in (silent, needs_auth):
        await expire_silently(localstripe, row)
    assert canceled.payment_intent_id is not None
    await gateway.client.v1.payment_intents.cancel_async(  # on purpose, not an expiry
        canceled.payment_intent_id, {"cancellation_reason": "requested_by_customer"}
    )
    for row in (silent, needs_auth, canceled):  # as far as we know, all still held
        known = await payment(db, row.order_id)
        assert known.status == "authorized"
        assert known.capture_before is not None
        assert known.capture_before > datetime.now(UTC)
        assert not known.hold_expired

    # The off-session charge's answer is lost after the emulator charged (seeded: the first
    # one is); the retry replays it under the same idempotency key.
    proxy.set_plan(FaultPlan(drop_response=0.6, match=OFF_SESSION_CREATES, seed=1))
    async with db.unit_of_work() as uow:
        await on_campaign_succeeded(
            CampaignSucceeded(
                producer="campaigns",
                correlation_id="corr-settle",
                campaign_id=campaign_id,
                confirmed_orders=4,
                min_orders=1,
                closed_at=datetime.now(UTC),
            ),
            uow,
        )
    config = WorkerConfig(concurrency=1, max_attempts=20, retry_base_s=0.05, retry_max_s=0.2)
    worker = SettlementWorker(db, faulty_gateway, PgRateLimiter(db.engine, "stripe", 500), config)
    task = asyncio.create_task(worker.run())
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            summary = await settlement_summary(db, campaign_id)
            if summary is not None and summary["status"] == "done":
                break
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    proxy.set_plan(FaultPlan())
    assert summary is not None
    assert (summary["status"], summary["succeeded"], summary["failed"]) == ("done", 2, 2)
    assert proxy.faults()["drop_response"] >= 1

    # live: captured as usual
    assert (await payment(db, live.order_id)).status == "captured"
    # silent: charged off-session exactly once, to the creator, with the fee
    charged = await payment(db, silent.order_id)
    assert (charged.status, charged.hold_expired) == ("captured", True)
    assert charged.payment_intent_id != silent.payment_intent_id
    off_session = [
        i for i in await intents_of(gateway, silent.order_id) if i["id"] != silent.payment_intent_id
    ]
    assert len(off_session) == 1, "one off-session charge despite the lost answer"
    assert off_session[0]["id"] == charged.payment_intent_id
    assert (off_session[0]["status"], off_session[0]["amount_received"]) == ("succeeded", 2500)
    assert off_session[0]["application_fee_amount"] == 125
    assert off_session[0]["transfer_data"]["destination"] == silent.destination_account
    captured = [e for e in await events(db, PaymentCaptured) if e.order_id == silent.order_id]
    assert [(e.payment_intent_id, e.amount_cents) for e in captured] == [
        (charged.payment_intent_id, 2500)
    ]
    # needs_auth: the pay-later link, the campaign stays successful
    failed = {e.order_id: e for e in await events(db, PaymentCaptureFailed)}
    link = failed[needs_auth.order_id]
    assert link.failure_code == "authentication_required"
    assert link.client_secret is not None
    assert link.pay_later_until is not None
    # canceled on purpose: a capture failure, never charged off-session
    assert (await payment(db, canceled.order_id)).status == "capture_failed"
    assert failed[canceled.order_id].client_secret is None
    assert [i["id"] for i in await intents_of(gateway, canceled.order_id)] == [
        canceled.payment_intent_id
    ]
    assert set(failed) == {needs_auth.order_id, canceled.order_id}


async def test_settlement_worker_charges_expired_holds_off_session(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe
) -> None:
    campaign_id, _ = await onboarded_campaign(db, gateway, localstripe)
    live = await authorize(db, gateway, placed("pm_card_visa", campaign_id))
    expired = await authorize(db, gateway, placed("pm_card_visa", campaign_id))
    needs_auth = await authorize(db, gateway, placed("pm_card_visa", campaign_id))
    await expire_hold(db, gateway, localstripe, expired)
    async with db.unit_of_work() as uow:  # a saved card that needs the buyer off-session
        row = await uow.session.get(Payment, needs_auth.order_id)
        assert row is not None
        row.payment_method_id = "pm_card_authenticationRequired"
        row.capture_before = datetime.now(UTC) - timedelta(seconds=1)
    async with db.unit_of_work() as uow:
        await on_campaign_succeeded(
            CampaignSucceeded(
                producer="campaigns",
                correlation_id="corr-settle",
                campaign_id=campaign_id,
                confirmed_orders=3,
                min_orders=1,
                closed_at=datetime.now(UTC),
            ),
            uow,
        )
    config = WorkerConfig(concurrency=2, retry_base_s=0.05, poll_interval_s=0.05)
    worker = SettlementWorker(db, gateway, PgRateLimiter(db.engine, "stripe", 500), config)
    while await worker.process_one():
        pass
    await worker.close_finished_runs()

    statuses = {o: (await payment(db, o)).status for o in (live.order_id, expired.order_id)}
    assert statuses == {live.order_id: "captured", expired.order_id: "captured"}
    assert (await payment(db, expired.order_id)).payment_intent_id != expired.payment_intent_id
    assert (await payment(db, needs_auth.order_id)).status == "capture_failed"
    [failed] = await events(db, PaymentCaptureFailed)
    assert (failed.order_id, failed.failure_code) == (
        needs_auth.order_id,
        "authentication_required",
    )
    assert failed.pay_later_until is not None
    assert failed.client_secret is not None
    summary = await settlement_summary(db, campaign_id)
    assert summary is not None
    assert summary["status"] == "done"
