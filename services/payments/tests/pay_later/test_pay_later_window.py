"""The authorization window: an expired hold charged off-session, ``authentication_required``
to the pay-later link with reminders, an unpaid link given up. Real PostgreSQL, the real SDK
against the emulator."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from dropwave_contracts.envelope import Event
from dropwave_contracts.events import (
    PaymentCaptured,
    PaymentCaptureFailed,
    PaymentReminderIssued,
)
from dropwave_devstack.stripe_emulator import LocalStripe
from dropwave_runtime.db import Database
from payments.models import PayLater, Payment
from payments.pay_later.handlers import settle_payment
from payments.pay_later.jobs import process_pay_later
from payments.settings import Settings
from payments.stripe_gateway import StripeGateway
from payments.webhooks.handlers import on_payment_intent_webhook

from ..conftest import (
    authorize,
    events,
    expire_hold,
    expired_hold,
    onboarded_campaign,
    payment,
    placed,
    settings,
    window,
)


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


async def unpaid_link(
    db: Database, gateway: StripeGateway, s: Settings, now: datetime
) -> tuple[uuid.UUID, Event]:
    """An expired hold whose off-session charge needs the buyer: a pay-later link open at
    ``now``; returns the order and its ``PaymentCaptureFailed``."""
    order_id = await expired_hold(db, gateway, 900)
    async with db.unit_of_work() as uow:
        locked = await uow.session.get(Payment, order_id, with_for_update=True)
        assert locked is not None
        _, failed = await settle_payment(
            uow, locked, gateway, **window(s), now=now, correlation_id="c", causation_id=None
        )
    return order_id, failed


async def test_unpaid_link_expires_after_the_grace_period(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe
) -> None:
    s = settings(localstripe)
    now = datetime.now(UTC)
    _, failed = await unpaid_link(db, gateway, s, now)
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


async def test_an_expired_link_is_canceled_at_stripe_with_no_lock_held(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe
) -> None:
    """The round cancels at Stripe before it locks anything: while the call is made, another
    transaction can lock the link and its payment at once (a webhook is never held up)."""
    s = settings(localstripe)
    now = datetime.now(UTC)
    order_id, _ = await unpaid_link(db, gateway, s, now)
    free_during_call: list[bool] = []

    class Probe:
        async def cancel_pay_later(self, payment_intent_id: str, order: uuid.UUID) -> bool:
            async with db.unit_of_work() as uow:
                nowait = {"nowait": True}
                link = await uow.session.get(PayLater, order, with_for_update=nowait)
                row = await uow.session.get(Payment, order, with_for_update=nowait)
                free_during_call.append(link is not None and row is not None)
            return await gateway.cancel_pay_later(payment_intent_id, order)

    counts = await process_pay_later(db, Probe(), s, now + timedelta(seconds=3601))  # type: ignore[arg-type]
    assert counts == {"paid": 0, "expired": 1, "reminded": 0}
    assert free_during_call == [True]
    last = (await events(db, PaymentCaptureFailed))[-1]
    assert (last.order_id, last.failure_code) == (order_id, "pay_later_expired")
