"""Handlers of Stripe's PaymentIntent and charge webhooks (also reconciliation's repair
path): they move a payment forward, never backwards, and never call Stripe."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from dropwave_contracts.envelope import Event
from dropwave_contracts.events import (
    PaymentAuthorized,
    PaymentCaptured,
    PaymentFailed,
    PaymentReleased,
)
from dropwave_runtime.db import UnitOfWork
from sqlalchemy import select

from ..domain import FAILED_MESSAGE, PRODUCER, PaymentStatus, webhook_target
from ..models import Payment
from ..stripe_gateway import capture_before_of_charge


class PaymentNotYetKnownError(Exception):
    """A webhook for one of our orders whose payment row is not committed yet (the Stripe
    call's transaction is still open): the caller answers non-2xx so Stripe redelivers."""


async def changes_nothing(uow: UnitOfWork, event_type: str, intent: Mapping[str, Any]) -> bool:
    """Whether a PaymentIntent webhook finds its payment where it would leave it, read
    without a lock: then the route acknowledges it writing nothing (no inbox row, no row
    lock, no commit to flush). Most webhooks of a drop repeat what the worker recorded from
    Stripe's own answer. Safe without the lock: a payment only moves forward, and a webhook
    that moves it nowhere now moves it nowhere later (``webhook_target``); a payment found
    only by its order (its answer not recorded yet) takes the locked path."""
    payment = await uow.session.scalar(
        select(Payment).where(Payment.payment_intent_id == str(intent.get("id") or ""))
    )
    if payment is None:
        return False
    status = str(intent.get("status"))
    if status == "requires_capture" and capture_before_of_charge(
        intent.get("latest_charge")
    ) not in (None, payment.capture_before):
        return False
    if (
        status == "canceled"
        and intent.get("cancellation_reason") == "automatic"
        and payment.status == PaymentStatus.AUTHORIZED.value
        and payment.payment_method_id
    ):
        return bool(payment.hold_expired)
    return webhook_target(event_type, status, PaymentStatus(payment.status)) is None


async def on_payment_intent_webhook(
    uow: UnitOfWork, stripe_event_id: str, event_type: str, intent: Mapping[str, Any]
) -> Event | None:
    """Move the order's payment forward from a PaymentIntent webhook; returns the event
    emitted, if any. Never moves a payment backwards (see ``domain.TRANSITIONS``); a webhook
    that changes nothing emits nothing."""
    intent_id = str(intent.get("id") or "")
    metadata = intent.get("metadata") or {}
    # Locked reads see the row as committed, not as an earlier read of this session left it
    # (``changes_nothing`` reads first, without the lock).
    locked = {"populate_existing": True}
    payment = await uow.session.scalar(
        select(Payment)
        .where(Payment.payment_intent_id == intent_id)
        .with_for_update()
        .execution_options(**locked)
    )
    if payment is None and metadata.get("order_id"):
        try:
            order_id = uuid.UUID(str(metadata["order_id"]))
        except ValueError:
            return None
        payment = await uow.session.scalar(
            select(Payment)
            .where(Payment.order_id == order_id)
            .with_for_update()
            .execution_options(**locked)
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
        # succeed; then the saved card is charged off-session (pay_later).
        payment.hold_expired = True
        return None
    target = webhook_target(event_type, str(intent.get("status")), PaymentStatus(payment.status))
    if target is None:
        return None
    payment.status = target.value
    payment.payment_intent_id = intent_id
    # An authorization whose answer the worker never got: what it would have recorded.
    if payment.customer_id is None and isinstance(intent.get("customer"), str):
        payment.customer_id = intent["customer"]
    if isinstance(intent.get("payment_method"), str) and target is PaymentStatus.AUTHORIZED:
        payment.payment_method_id = intent["payment_method"]
    if target is PaymentStatus.AUTHORIZED and payment.cancel_requested_at is not None:
        return None  # the order is cancelled: its release item releases this hold
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

    Read first without a lock: most of these tell what the worker already recorded from
    Stripe's answer, and then nothing is written (no row lock, no commit to flush).
    """
    intent_id = charge.get("payment_intent")
    if not isinstance(intent_id, str) or not intent_id:
        return False
    query = select(Payment).where(Payment.payment_intent_id == intent_id)
    if not _charge_news(await uow.session.scalar(query), event_type, charge):
        return False
    payment = await uow.session.scalar(
        query.with_for_update().execution_options(populate_existing=True)
    )
    news = _charge_news(payment, event_type, charge)
    for name, value in news.items():
        setattr(payment, name, value)
    return bool(news)


def _charge_news(
    payment: Payment | None, event_type: str, charge: Mapping[str, Any]
) -> dict[str, Any]:
    """What a charge webhook changes on the payment (nothing: empty)."""
    if payment is None or charge.get("captured"):
        return {}
    if event_type == "charge.expired":
        expired = payment.status == PaymentStatus.AUTHORIZED.value and not payment.hold_expired
        return {"hold_expired": True} if expired else {}
    capture_before = capture_before_of_charge(charge)
    if capture_before is None or capture_before == payment.capture_before:
        return {}
    return {"capture_before": capture_before}
