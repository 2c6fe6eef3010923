"""Connect (accounts, destination charges), refunds, the authorization window (off-session,
pay-later) and reconciliation: real PostgreSQL, the real SDK against the emulator."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from dropwave_contracts.events import (
    CampaignPublished,
    CreatorPayoutsUpdated,
    OrderPlaced,
    PaymentCaptured,
    PaymentCaptureFailed,
    PaymentRefunded,
    PaymentReminderIssued,
)
from dropwave_contracts.topics import parse_event
from dropwave_devstack.stripe_emulator import LocalStripe
from dropwave_runtime.db import Database, outbox_table
from dropwave_runtime.problems import Problem
from payments.connect import on_account_updated, on_campaign_published
from payments.handlers import on_order_placed, on_payment_intent_webhook
from payments.models import Payment
from payments.payment_window import process_pay_later, settle_payment
from payments.reconcile import reconcile
from payments.refunds import refund_order
from payments.settings import Settings
from payments.stripe_connect import create_express_account
from payments.stripe_gateway import StripeGateway
from sqlalchemy import select

from .conftest import expired_hold

CREATOR = "user_creator_1"


def settings(localstripe: LocalStripe, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": "postgresql+asyncpg://unused/unused",
        "kafka_bootstrap_servers": "127.0.0.1:9",
        "stripe_secret_key": "sk_test_payments",
        "stripe_api_base": localstripe.api_base,
        "stripe_webhook_secret": "whsec_x",
        "pay_link_secret": "pay-link-secret-0123456789",
        "auth_jwks_url": "http://127.0.0.1:9/jwks.json",
        "auth_issuer": "https://issuer.test/",
        "auth_audience": "dropwave-api",
        "pay_later_grace_s": 3600,
        "pay_later_reminder_every_s": 600,
    }
    return Settings.model_validate(values | overrides)


def window(s: Settings) -> dict[str, float]:
    return {"grace_s": s.pay_later_grace_s, "reminder_every_s": s.pay_later_reminder_every_s}


def placed(
    pm: str | None, campaign_id: uuid.UUID, amount: int = 2500, creator: str | None = None
) -> OrderPlaced:
    return OrderPlaced(
        producer="orders",
        correlation_id=f"corr-{uuid.uuid4().hex[:8]}",
        campaign_id=campaign_id,
        order_id=uuid.uuid4(),
        buyer_number=1,
        amount_cents=amount,
        currency="eur",
        buyer_email="buyer@example.com",
        buyer_phone=None,
        payment_method_id=pm,
        creator_id=creator,
    )


def published(campaign_id: uuid.UUID, creator: str = CREATOR) -> CampaignPublished:
    now = datetime.now(UTC)
    return CampaignPublished(
        producer="campaigns",
        correlation_id="c",
        campaign_id=campaign_id,
        creator_id=creator,
        slug="s",
        title="t",
        price_cents=2500,
        currency="eur",
        min_orders=5,
        deadline=now + timedelta(days=30),
        published_at=now,
    )


async def events(db: Database, cls: type[Any]) -> list[Any]:
    async with db.sessions() as s:
        payloads = await s.scalars(select(outbox_table.c.payload).order_by(outbox_table.c.id))
        return [e for e in map(parse_event, payloads) if isinstance(e, cls)]


async def payment(db: Database, order_id: uuid.UUID) -> Payment:
    async with db.sessions() as s:
        row = await s.get(Payment, order_id)
    assert row is not None
    return row


async def onboarded_campaign(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe
) -> tuple[uuid.UUID, str]:
    """A published campaign whose creator's account can take charges and pay out."""
    campaign_id = uuid.uuid4()
    creator = f"user_{uuid.uuid4().hex[:8]}"
    state = await create_express_account(gateway.client, creator)
    async with httpx.AsyncClient() as http:
        account = (
            await http.get(f"{localstripe.api_base}/_config/accounts/{state.account_id}/onboard")
        ).json()
    async with db.unit_of_work() as uow:
        await on_campaign_published(published(campaign_id, creator), uow)
        await on_account_updated(uow, f"evt_{uuid.uuid4().hex}", 100, account)
    return campaign_id, creator


async def authorize(db: Database, gateway: StripeGateway, event: OrderPlaced) -> Payment:
    """OrderPlaced handled (recorded, queued), then the worker's lane authorizes it."""
    from dropwave_runtime.rate_limit import PgRateLimiter
    from payments.settlement import SettlementWorker

    async with db.unit_of_work() as uow:
        await on_order_placed(event, uow, platform_fee_bps=500)
    worker = SettlementWorker(db, gateway, PgRateLimiter(db.engine, "stripe", 10_000))
    while await worker.process_one(event.order_id):
        pass
    return await payment(db, event.order_id)


# --- Connect ----------------------------------------------------------------------------------


async def test_account_updates_newest_wins_and_emit_on_change(
    db: Database, gateway: StripeGateway
) -> None:
    state = await create_express_account(gateway.client, "user_acct")
    base = {"id": state.account_id, "metadata": {"creator_id": "user_acct"}}
    enabled = base | {"charges_enabled": True, "payouts_enabled": True, "details_submitted": True}
    disabled = base | {"charges_enabled": True, "payouts_enabled": False}
    async with db.unit_of_work() as uow:
        first = await on_account_updated(uow, "evt_2", 200, enabled)
    async with db.unit_of_work() as uow:
        older = await on_account_updated(uow, "evt_1", 100, disabled)  # late, older: ignored
    async with db.unit_of_work() as uow:
        same = await on_account_updated(uow, "evt_3", 300, enabled)  # no change: no event
    async with db.unit_of_work() as uow:
        stranger = await on_account_updated(uow, "evt_4", 300, {"id": "acct_other"})
    assert first is not None
    assert (first.creator_id, first.payouts_enabled, first.key) == ("user_acct", True, "user_acct")
    assert (older, same, stranger) == (None, None, None)
    [emitted] = await events(db, CreatorPayoutsUpdated)
    assert emitted.account_id == state.account_id


async def test_destination_charge_with_platform_fee_and_saved_card(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe
) -> None:
    campaign_id, _ = await onboarded_campaign(db, gateway, localstripe)
    row = await authorize(db, gateway, placed("pm_card_visa", campaign_id, 2500))
    assert row.status == "authorized"
    assert (row.application_fee_cents, row.destination_account is not None) == (125, True)
    assert row.customer_id is not None
    assert row.payment_method_id is not None
    assert row.capture_before is not None
    assert row.payment_intent_id is not None
    intent = await gateway.client.v1.payment_intents.retrieve_async(row.payment_intent_id)
    assert intent.transfer_data is not None
    assert intent.transfer_data.destination == row.destination_account
    assert intent.application_fee_amount == 125
    assert (intent.customer, intent.setup_future_usage) == (row.customer_id, "off_session")

    # A campaign whose creator has no enabled account: a plain platform charge.
    plain = await authorize(db, gateway, placed("pm_card_visa", uuid.uuid4()))
    assert (plain.destination_account, plain.application_fee_cents) == (None, None)


async def test_order_placed_before_campaign_published_is_still_a_destination_charge(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe
) -> None:
    """The race: OrderPlaced (orders' topic) handled before the campaign's CampaignPublished
    (campaigns' topic). The creator comes with the order, so the charge goes to them."""
    campaign_id = uuid.uuid4()
    creator = f"user_{uuid.uuid4().hex[:8]}"
    state = await create_express_account(gateway.client, creator)
    async with httpx.AsyncClient() as http:
        account = (
            await http.get(f"{localstripe.api_base}/_config/accounts/{state.account_id}/onboard")
        ).json()
    async with db.unit_of_work() as uow:
        await on_account_updated(uow, f"evt_{uuid.uuid4().hex}", 100, account)

    row = await authorize(db, gateway, placed("pm_card_visa", campaign_id, 2500, creator))
    assert row.status == "authorized"
    assert (row.destination_account, row.application_fee_cents) == (state.account_id, 125)
    assert row.payment_intent_id is not None
    intent = await gateway.client.v1.payment_intents.retrieve_async(row.payment_intent_id)
    assert intent.transfer_data is not None
    assert intent.transfer_data.destination == state.account_id
    assert intent.application_fee_amount == 125
    async with db.sessions() as s:
        assert await campaign_owner_of(s, campaign_id) == creator  # owner may refund already

    async with db.unit_of_work() as uow:  # the publish arrives late: harmless
        await on_campaign_published(published(campaign_id, creator), uow)
    async with db.sessions() as s:
        assert await campaign_owner_of(s, campaign_id) == creator

    # An older OrderPlaced without the creator still falls back to the campaign's map.
    old = await authorize(db, gateway, placed("pm_card_visa", campaign_id, 2500))
    assert old.destination_account == state.account_id


async def campaign_owner_of(session: Any, campaign_id: uuid.UUID) -> str | None:
    from payments.models_connect import CampaignCreator

    owner: str | None = await session.scalar(
        select(CampaignCreator.creator_id).where(CampaignCreator.campaign_id == campaign_id)
    )
    return owner


# --- refunds --------------------------------------------------------------------------------


async def captured_order(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe
) -> tuple[Payment, str]:
    campaign_id, creator = await onboarded_campaign(db, gateway, localstripe)
    row = await authorize(db, gateway, placed("pm_card_visa", campaign_id, 2500))
    assert row.payment_intent_id is not None
    await gateway.client.v1.payment_intents.capture_async(row.payment_intent_id)
    async with db.unit_of_work() as uow:
        locked = await uow.session.get(Payment, row.order_id)
        assert locked is not None
        locked.status = "captured"
    return row, creator


async def test_refunds_partly_then_fully_never_more(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe
) -> None:
    row, creator = await captured_order(db, gateway, localstripe)
    client = gateway.client
    first = await refund_order(db, client, row.order_id, 600, creator_id=creator)
    assert (first.amount_cents, first.refunded_cents, first.status) == (600, 600, "captured")
    with pytest.raises(Problem) as too_much:
        await refund_order(db, client, row.order_id, 1901, creator_id=creator)
    assert (too_much.value.status, too_much.value.code) == (409, "refund_exceeds_captured")
    rest = await refund_order(db, client, row.order_id, None, creator_id=None)  # operator
    assert (rest.amount_cents, rest.refunded_cents, rest.status) == (1900, 2500, "refunded")
    with pytest.raises(Problem) as again:
        await refund_order(db, client, row.order_id, 1, creator_id=creator)
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
    with pytest.raises(Problem) as stranger:
        await refund_order(db, gateway.client, row.order_id, 100, creator_id="user_someone_else")
    assert (stranger.value.status, stranger.value.code) == (404, "payment_not_found")
    with pytest.raises(Problem) as unknown:
        await refund_order(db, gateway.client, uuid.uuid4(), 100, creator_id=None)
    assert unknown.value.status == 404
    campaign_id, owner = await onboarded_campaign(db, gateway, localstripe)
    held = await authorize(db, gateway, placed("pm_card_visa", campaign_id))
    with pytest.raises(Problem) as not_captured:
        await refund_order(db, gateway.client, held.order_id, None, creator_id=owner)
    assert (not_captured.value.status, not_captured.value.code) == (409, "not_refundable")
    assert await events(db, PaymentRefunded) == []
    assert (await payment(db, row.order_id)).refunded_cents == 0


async def test_concurrent_refunds_never_exceed_the_capture(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe
) -> None:
    row, creator = await captured_order(db, gateway, localstripe)
    results = await asyncio.gather(
        *(
            refund_order(db, gateway.client, row.order_id, 1500, creator_id=creator)
            for _ in range(3)
        ),
        return_exceptions=True,
    )
    ok = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, Problem)]
    assert (len(ok), len(refused)) == (1, 2)
    assert (await payment(db, row.order_id)).refunded_cents == 1500


# --- the authorization window -----------------------------------------------------------------


async def expire_hold(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe, row: Payment
) -> None:
    """Stripe cancels the authorization when its window passes; its webhook flags the hold."""
    assert row.payment_intent_id is not None
    async with httpx.AsyncClient() as http:
        expired = await http.post(
            f"{localstripe.api_base}/_config/payment_intents/{row.payment_intent_id}/expire"
        )
    expired.raise_for_status()
    async with db.unit_of_work() as uow:
        changed = await on_payment_intent_webhook(
            uow, f"evt_{uuid.uuid4().hex}", "payment_intent.canceled", expired.json()
        )
    assert changed is None  # not a release


async def test_expired_hold_is_charged_off_session(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe
) -> None:
    campaign_id, _ = await onboarded_campaign(db, gateway, localstripe)
    row = await authorize(db, gateway, placed("pm_card_visa", campaign_id, 2500))
    await expire_hold(db, gateway, localstripe, row)
    assert (await payment(db, row.order_id)).status == "authorized"

    async with db.unit_of_work() as uow:
        locked = await uow.session.get(Payment, row.order_id, with_for_update=True)
        assert locked is not None
        result, event = await settle_payment(
            uow,
            locked,
            gateway,
            **window(settings(localstripe)),
            now=datetime.now(UTC),
            correlation_id="settle",
            causation_id=None,
        )
    assert result.off_session
    assert result.captured
    assert isinstance(event, PaymentCaptured)
    assert (event.amount_cents, event.application_fee_cents) == (2500, 125)
    after = await payment(db, row.order_id)
    assert after.status == "captured"
    assert after.payment_intent_id == result.payment_intent_id != row.payment_intent_id
    charged = await gateway.client.v1.payment_intents.retrieve_async(result.payment_intent_id)
    assert (charged.status, charged.amount_received) == ("succeeded", 2500)
    assert charged.transfer_data is not None


async def test_authentication_required_goes_to_pay_later_with_reminders(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe
) -> None:
    s = settings(localstripe)
    order_id = await expired_hold(db, gateway, 1800, correlation_id="corr-pay-later")
    now = datetime.now(UTC)
    async with db.unit_of_work() as uow:
        locked = await uow.session.get(Payment, order_id, with_for_update=True)
        assert locked is not None
        _result, event = await settle_payment(
            uow, locked, gateway, **window(s), now=now, correlation_id="settle", causation_id=None
        )
    assert isinstance(event, PaymentCaptureFailed)
    assert event.failure_code == "authentication_required"
    assert event.pay_later_until == now + timedelta(seconds=3600)
    assert event.client_secret is not None
    assert event.client_secret.startswith(event.payment_intent_id)
    assert (await payment(db, order_id)).status == "capture_failed"

    # nothing due yet; after the reminder interval: one reminder
    assert (await process_pay_later(db, gateway, s, now))["reminded"] == 0
    counts = await process_pay_later(db, gateway, s, now + timedelta(seconds=601))
    assert counts == {"paid": 0, "expired": 0, "reminded": 1}
    [reminder] = await events(db, PaymentReminderIssued)
    assert (reminder.reminder_number, reminder.client_secret) == (1, event.client_secret)

    # the buyer pays through the link (3-D Secure on-session), the webhook captures
    intent_id = event.payment_intent_id
    confirmed = await gateway.client.v1.payment_intents.confirm_async(intent_id)
    assert confirmed.status == "requires_action"
    async with httpx.AsyncClient() as http:
        paid = await http.post(
            f"{localstripe.api_base}/v1/payment_intents/{intent_id}/_authenticate",
            data={"client_secret": event.client_secret, "success": "true"},
            headers={"Authorization": "Bearer sk_test_payments"},
        )
    assert paid.json()["status"] == "succeeded"
    async with db.unit_of_work() as uow:
        captured = await on_payment_intent_webhook(
            uow, "evt_paid", "payment_intent.succeeded", paid.json()
        )
    assert isinstance(captured, PaymentCaptured)
    assert (await payment(db, order_id)).status == "captured"
    counts = await process_pay_later(db, gateway, s, now + timedelta(seconds=1300))
    assert counts["paid"] == 1


async def test_unpaid_link_expires_after_the_grace_period(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe
) -> None:
    s = settings(localstripe)
    order_id = await expired_hold(db, gateway, 900)
    now = datetime.now(UTC)
    async with db.unit_of_work() as uow:
        locked = await uow.session.get(Payment, order_id, with_for_update=True)
        assert locked is not None
        _, failed = await settle_payment(
            uow, locked, gateway, **window(s), now=now, correlation_id="c", causation_id=None
        )
    counts = await process_pay_later(db, gateway, s, now + timedelta(seconds=3601))
    assert counts == {"paid": 0, "expired": 1, "reminded": 0}
    last = (await events(db, PaymentCaptureFailed))[-1]
    assert (last.failure_code, last.pay_later_until) == ("pay_later_expired", None)
    intent = await gateway.client.v1.payment_intents.retrieve_async(failed.payment_intent_id)  # type: ignore[attr-defined]
    assert intent.status == "canceled"
    assert await process_pay_later(db, gateway, s, now + timedelta(days=9)) == {
        "paid": 0,
        "expired": 0,
        "reminded": 0,
    }


# --- reconciliation ---------------------------------------------------------------------------


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

    report = {d.order_id: d for d in await reconcile(db, gateway.client, repair=False)}
    assert report[str(behind.order_id)].repairable
    assert (report[str(behind.order_id)].ours, report[str(behind.order_id)].stripe) == (
        "authorized",
        "succeeded",
    )
    assert not report[str(ahead.order_id)].repairable
    assert (await payment(db, behind.order_id)).status == "authorized"  # report changes nothing
    assert await events(db, PaymentCaptured) == []

    repaired = {d.order_id: d for d in await reconcile(db, gateway.client, repair=True)}
    assert repaired[str(behind.order_id)].repaired
    assert not repaired[str(ahead.order_id)].repaired
    assert (await payment(db, behind.order_id)).status == "captured"
    [captured] = await events(db, PaymentCaptured)
    assert captured.order_id == behind.order_id
    again = {d.order_id for d in await reconcile(db, gateway.client, repair=True)}
    assert str(behind.order_id) not in again
    assert len(await events(db, PaymentCaptured)) == 1


async def test_reconcile_compares_refunded_amounts_and_records_missed_refunds(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe
) -> None:
    client = gateway.client
    row, creator = await captured_order(db, gateway, localstripe)  # 2500 captured
    assert row.payment_intent_id is not None
    await refund_order(db, client, row.order_id, 600, creator_id=creator)  # recorded
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

    report = refund_drifts(await reconcile(db, client, repair=False))
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

    repaired = refund_drifts(await reconcile(db, client, repair=True))
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
    again = refund_drifts(await reconcile(db, client, repair=True))
    assert set(again) == {str(ahead.order_id)}  # repaired once, nothing emitted twice
    assert len(await events(db, PaymentRefunded)) == 2
    # What is left still refunds through our own flow: 2500 - 1000, not 2500 - 600.
    with pytest.raises(Problem) as too_much:
        await refund_order(db, client, row.order_id, 1501, creator_id=creator)
    assert too_much.value.code == "refund_exceeds_captured"

    # The rest refunded at Stripe behind our back: repaired to fully refunded.
    await client.v1.refunds.create_async({"payment_intent": row.payment_intent_id})
    final = refund_drifts(await reconcile(db, client, repair=True))
    assert final[str(row.order_id)].repaired
    done = await payment(db, row.order_id)
    assert (done.refunded_cents, done.status) == (2500, "refunded")
    assert [e.amount_cents for e in await events(db, PaymentRefunded)] == [600, 400, 1500]


# --- settlement worker: a hold past its window is charged off-session -------------------------


async def test_settlement_worker_charges_expired_holds_off_session(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe
) -> None:
    from dropwave_contracts.events import CampaignSucceeded
    from dropwave_runtime.rate_limit import PgRateLimiter
    from payments.settlement import (
        SettlementWorker,
        WorkerConfig,
        on_campaign_succeeded,
        settlement_summary,
    )

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
