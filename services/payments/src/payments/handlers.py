"""Event handlers (commands): each runs in the consumer's unit of work, next to its inbox record."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Final

from dropwave_contracts.envelope import Event
from dropwave_contracts.events import (
    OrderCancelled,
    OrderPlaced,
    OrdersTallied,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentFailed,
    PaymentReleased,
)
from dropwave_runtime.db import UnitOfWork
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from .connect import payout_account
from .domain import (
    FAILED_MESSAGE,
    PaymentStatus,
    can_transition,
    platform_fee_cents,
    webhook_target,
)
from .models import CampaignTally, Payment, SettlementItem
from .stripe_gateway import capture_before_of_charge

PRODUCER = "payments"


AUTHORIZE: Final = "authorize"
RELEASE: Final = "release"
"""Kinds of ``settlement_items`` queued here (the settlement worker drains them)."""


async def on_order_placed(event: OrderPlaced, uow: UnitOfWork, platform_fee_bps: int = 500) -> None:
    """Record the order's payment (``pending``) and queue its authorization: no Stripe call
    here, so a handler retried or dead-lettered can never leave a PaymentIntent nothing
    tracks. The settlement worker's lanes authorize it (paced, retried from the durable
    queue, one PaymentIntent per order) and report the outcome.

    The inbox already drops a redelivery of the same event; this guards against the same
    order arriving again under another event id: an order already recorded is not queued
    twice (``PaymentAuthorized`` / ``PaymentActionRequired`` / ``PaymentFailed`` once).
    """
    existing = await uow.session.scalar(
        select(Payment.status).where(Payment.order_id == event.order_id).with_for_update()
    )
    if existing is not None:
        return
    cancelled_first = await uow.session.scalar(
        select(SettlementItem.order_id).where(
            SettlementItem.order_id == event.order_id, SettlementItem.kind == RELEASE
        )
    )

    # A destination charge to the creator's connected account when it can take it; else the
    # money stays on the platform (dev without Connect). The creator comes with the order, so
    # an OrderPlaced handled before its campaign's CampaignPublished is routed all the same.
    # Decided once, here: every attempt sends the same parameters under the same key.
    destination = await payout_account(uow, event.campaign_id, event.creator_id)
    fee = platform_fee_cents(event.amount_cents, platform_fee_bps) if destination else None
    await uow.session.execute(
        pg_insert(Payment)
        .values(
            order_id=event.order_id,
            campaign_id=event.campaign_id,
            amount_cents=event.amount_cents,
            currency=event.currency,
            # An order cancelled before this (a dead-lettered OrderPlaced replayed after its
            # OrderCancelled) is recorded released and never sent to Stripe.
            status=(PaymentStatus.RELEASED if cancelled_first else PaymentStatus.PENDING).value,
            cancel_requested_at=func.now() if cancelled_first else None,
            destination_account=destination,
            application_fee_cents=fee,
            # The buyer's card as sent; replaced by the one Stripe confirmed with.
            payment_method_id=event.payment_method_id,
            correlation_id=event.correlation_id,
        )
        .on_conflict_do_nothing(index_elements=[Payment.order_id])
    )
    if not cancelled_first:
        await enqueue_item(uow, event, AUTHORIZE, event.campaign_id, event.order_id)


async def enqueue_item(
    uow: UnitOfWork, cause: Event, kind: str, campaign_id: uuid.UUID, order_id: uuid.UUID
) -> None:
    """Queue one item for the settlement worker, due now (none if the order has one of
    that kind already). ``ON CONFLICT DO NOTHING`` never waits on a lane's row lock."""
    await uow.session.execute(
        pg_insert(SettlementItem)
        .values(
            order_id=order_id,
            kind=kind,
            campaign_id=campaign_id,
            status="queued",
            correlation_id=cause.correlation_id,
            causation_id=str(cause.event_id),
        )
        .on_conflict_do_nothing()
    )


async def on_order_cancelled(event: OrderCancelled, uow: UnitOfWork) -> None:
    """The order was cancelled (by its buyer, or not authorized in time): record it on the
    payment and queue its release. No Stripe call here.

    From now on the payment is never captured (capture skips it, the sweep never queues
    it). The ``release`` item (idempotency key ``release:<order>``) cancels the
    PaymentIntent, retried until Stripe confirms; if the authorization is still queued the
    worker resolves it first (never sent: nothing to release; sent: released once known).

    Lock order is the worker lanes' (item, then payment), so a lane mid-call only makes this
    wait: the authorization item is made due now first, so a cancelled order's pending
    authorization is settled without waiting for its backoff.
    """
    await uow.session.execute(
        update(SettlementItem)
        .where(
            SettlementItem.order_id == event.order_id,
            SettlementItem.kind == AUTHORIZE,
            SettlementItem.status == "queued",
        )
        .values(next_attempt_at=func.now())
    )
    payment = await uow.session.scalar(
        select(Payment).where(Payment.order_id == event.order_id).with_for_update()
    )
    if payment is None:
        # Its OrderPlaced was not handled (dead-lettered): the release item records the
        # cancel, so a replayed OrderPlaced is never authorized (the lane skips the item).
        await enqueue_item(uow, event, RELEASE, event.campaign_id, event.order_id)
        return
    if payment.cancel_requested_at is not None:
        return
    payment.cancel_requested_at = func.now()
    if not can_transition(PaymentStatus(payment.status), PaymentStatus.RELEASED):
        return  # failed, captured, released: nothing held to release
    await enqueue_item(uow, event, RELEASE, payment.campaign_id, payment.order_id)


async def on_orders_tallied(event: OrdersTallied, uow: UnitOfWork) -> None:
    """Orders' closing tally of a campaign: every ``OrderCancelled`` of it came before (same
    partition) and is handled. A capture run decided on this tally may start now."""
    await uow.session.execute(
        pg_insert(CampaignTally)
        .values(
            tally_event_id=event.event_id,
            campaign_id=event.campaign_id,
            standing_orders=event.standing_orders,
        )
        .on_conflict_do_nothing()
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
