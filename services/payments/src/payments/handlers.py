"""Event handlers (commands): each runs in the consumer's unit of work, next to its inbox record."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from dropwave_contracts.envelope import Event, follow
from dropwave_contracts.events import (
    OrderCancelled,
    OrderPlaced,
    PaymentActionRequired,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentFailed,
    PaymentReleased,
)
from dropwave_runtime.db import UnitOfWork
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from .connect import payout_account
from .domain import (
    AUTHORIZATION_DONE,
    FAILED_MESSAGE,
    AuthorizationResult,
    PaymentStatus,
    can_transition,
    platform_fee_cents,
    webhook_target,
)
from .models import Payment
from .stripe_gateway import AuthorizationRequest, capture_before_of_charge

PRODUCER = "payments"


class Gateway(Protocol):
    async def authorize(self, order: AuthorizationRequest) -> AuthorizationResult: ...


class Releaser(Protocol):
    async def release(self, payment_intent_id: str, order_id: uuid.UUID) -> None: ...


async def on_order_placed(
    event: OrderPlaced, uow: UnitOfWork, gateway: Gateway, platform_fee_bps: int = 500
) -> None:
    """Authorize the order's amount (manual capture) and report the outcome.

    The inbox already drops a redelivery of the same event; this guards against the same
    order arriving again under another event id: once the authorization step is over, the
    order is not sent to Stripe a second time. The Stripe call is idempotent per order, so a
    retry after a crash or a failed commit gets the same PaymentIntent back.
    """
    existing = await uow.session.scalar(
        select(Payment.status).where(Payment.order_id == event.order_id).with_for_update()
    )
    if existing is not None and PaymentStatus(existing) in AUTHORIZATION_DONE:
        return

    # A destination charge to the creator's connected account when it can take it; else the
    # money stays on the platform (dev without Connect). The creator comes with the order, so
    # an OrderPlaced handled before its campaign's CampaignPublished is routed all the same.
    destination = await payout_account(uow, event.campaign_id, event.creator_id)
    fee = platform_fee_cents(event.amount_cents, platform_fee_bps) if destination else None
    result = await gateway.authorize(
        AuthorizationRequest(
            order_id=event.order_id,
            campaign_id=event.campaign_id,
            amount_cents=event.amount_cents,
            currency=event.currency,
            payment_method_id=event.payment_method_id,
            destination_account=destination,
            application_fee_cents=fee,
            save_card=True,
        )
    )
    values = {
        "payment_intent_id": result.payment_intent_id,
        "destination_account": destination,
        "application_fee_cents": fee,
        "customer_id": result.customer_id,
        "payment_method_id": result.payment_method_id,
        "capture_before": result.capture_before,
        "status": result.status.value,
        "failure_code": result.failure_code,
        "decline_code": result.decline_code,
        "correlation_id": event.correlation_id,
    }
    stmt = pg_insert(Payment).values(
        order_id=event.order_id,
        campaign_id=event.campaign_id,
        amount_cents=event.amount_cents,
        currency=event.currency,
        **values,
    )
    await uow.session.execute(
        stmt.on_conflict_do_update(index_elements=[Payment.order_id], set_=values)
    )

    common = {"campaign_id": event.campaign_id, "order_id": event.order_id}
    if result.status is PaymentStatus.AUTHORIZED:
        assert result.payment_intent_id is not None
        await uow.emit(
            follow(
                event,
                PaymentAuthorized,
                producer=PRODUCER,
                payment_intent_id=result.payment_intent_id,
                amount_cents=event.amount_cents,
                currency=event.currency,
                capture_before=result.capture_before,
                **common,
            )
        )
    elif result.status is PaymentStatus.REQUIRES_ACTION:
        assert result.payment_intent_id is not None
        assert result.client_secret is not None
        await uow.emit(
            follow(
                event,
                PaymentActionRequired,
                producer=PRODUCER,
                payment_intent_id=result.payment_intent_id,
                client_secret=result.client_secret,
                next_action=result.next_action,
                **common,
            )
        )
    else:
        await uow.emit(
            follow(
                event,
                PaymentFailed,
                producer=PRODUCER,
                payment_intent_id=result.payment_intent_id,
                failure_code=result.failure_code,
                decline_code=result.decline_code,
                message=result.message or FAILED_MESSAGE,
                **common,
            )
        )


async def on_order_cancelled(event: OrderCancelled, uow: UnitOfWork, gateway: Releaser) -> None:
    """The buyer cancelled: release the hold (cancel the PaymentIntent), then PaymentReleased.

    OrderPlaced and OrderCancelled share the campaign's partition, so the payment row is
    normally there. A payment that never got an intent, already failed, or is released
    changes nothing; the Stripe call is idempotent, so a retry after a failed commit is safe.
    """
    payment = await uow.session.scalar(
        select(Payment).where(Payment.order_id == event.order_id).with_for_update()
    )
    if payment is None or not can_transition(PaymentStatus(payment.status), PaymentStatus.RELEASED):
        return
    payment.status = PaymentStatus.RELEASED.value
    if payment.payment_intent_id is None:
        return  # nothing held at Stripe; a late authorization is no longer taken
    await gateway.release(payment.payment_intent_id, payment.order_id)
    await uow.emit(
        follow(
            event,
            PaymentReleased,
            producer=PRODUCER,
            campaign_id=payment.campaign_id,
            order_id=payment.order_id,
            payment_intent_id=payment.payment_intent_id,
        )
    )


class PaymentNotYetKnownError(Exception):
    """A webhook for one of our orders whose payment row is not committed yet (the Stripe
    call's transaction is still open): the caller answers non-2xx so Stripe redelivers."""


async def on_payment_intent_webhook(
    uow: UnitOfWork, stripe_event_id: str, event_type: str, intent: Mapping[str, Any]
) -> Event | None:
    """Move the order's payment forward from a PaymentIntent webhook; returns the event
    emitted, if any. Never moves a payment backwards (see ``domain.TRANSITIONS``); a webhook
    that changes nothing emits nothing."""
    intent_id = str(intent.get("id") or "")
    metadata = intent.get("metadata") or {}
    payment = await uow.session.scalar(
        select(Payment).where(Payment.payment_intent_id == intent_id).with_for_update()
    )
    if payment is None and metadata.get("order_id"):
        try:
            order_id = uuid.UUID(str(metadata["order_id"]))
        except ValueError:
            return None
        payment = await uow.session.scalar(
            select(Payment).where(Payment.order_id == order_id).with_for_update()
        )
        if payment is None:
            raise PaymentNotYetKnownError(intent_id)
        if payment.payment_intent_id not in (None, intent_id):
            return None  # a stray PaymentIntent for this order: not the one we track
    if payment is None:
        return None  # not a DropWave payment

    capture_before = capture_before_of_charge(intent.get("latest_charge"))
    if capture_before is not None and intent.get("status") == "requires_capture":
        payment.capture_before = capture_before  # when the hold ends, if Stripe expanded it
    if (
        intent.get("status") == "canceled"
        and intent.get("cancellation_reason") == "automatic"
        and payment.status == PaymentStatus.AUTHORIZED.value
        and payment.payment_method_id
    ):
        # The authorization window passed: not a release of ours. The campaign may still
        # succeed; then the saved card is charged off-session (payment_window).
        payment.hold_expired = True
        return None
    target = webhook_target(event_type, str(intent.get("status")), PaymentStatus(payment.status))
    if target is None:
        return None
    payment.status = target.value
    payment.payment_intent_id = intent_id
    common: dict[str, Any] = {
        "producer": PRODUCER,
        "correlation_id": payment.correlation_id or str(payment.order_id),
        "causation_id": stripe_event_id[:128],
        "campaign_id": payment.campaign_id,
        "order_id": payment.order_id,
        "payment_intent_id": intent_id,
    }
    event: Event
    if target is PaymentStatus.AUTHORIZED:
        event = PaymentAuthorized(
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            capture_before=None,
            **common,
        )
    elif target is PaymentStatus.CAPTURED:
        event = PaymentCaptured(
            amount_cents=intent.get("amount_received") or payment.amount_cents,
            currency=payment.currency,
            application_fee_cents=intent.get("application_fee_amount") or 0,
            **common,
        )
    elif target is PaymentStatus.RELEASED:
        event = PaymentReleased(**common)
    else:
        error = intent.get("last_payment_error") or {}
        canceled = event_type == "payment_intent.canceled"
        payment.failure_code = error.get("code") or ("canceled" if canceled else None)
        payment.decline_code = error.get("decline_code")
        event = PaymentFailed(
            failure_code=payment.failure_code,
            decline_code=payment.decline_code,
            message=error.get("message") or FAILED_MESSAGE,
            **common,
        )
    await uow.emit(event)
    return event


async def on_charge_webhook(uow: UnitOfWork, event_type: str, charge: Mapping[str, Any]) -> bool:
    """Learn about the authorization's window from a ``charge.*`` webhook; True if it changed
    the payment. Emits nothing (the money did not move).

    ``charge.succeeded`` of an uncaptured card charge carries
    ``payment_method_details.card.capture_before``: the authorization response gives it to
    orders confirmed server-side, this gives it to those the buyer confirmed (3-D Secure, the
    client-side flow). ``charge.expired``: the hold is gone; settlement then charges the saved
    card off-session instead of capturing. A charge of no payment of ours (or whose payment
    is not committed yet) changes nothing: settlement still finds out at capture time.
    """
    intent_id = charge.get("payment_intent")
    if not isinstance(intent_id, str) or not intent_id:
        return False
    payment = await uow.session.scalar(
        select(Payment).where(Payment.payment_intent_id == intent_id).with_for_update()
    )
    if payment is None or charge.get("captured"):
        return False
    if event_type == "charge.expired":
        if payment.status != PaymentStatus.AUTHORIZED.value or payment.hold_expired:
            return False
        payment.hold_expired = True
        return True
    capture_before = capture_before_of_charge(charge)
    if capture_before is None or capture_before == payment.capture_before:
        return False
    payment.capture_before = capture_before
    return True
