"""Reconciliation: our payment states against Stripe's, matched by PaymentIntent (listed,
then joined by id; the order id is in every PaymentIntent's metadata), and our refunded
amounts against Stripe's refunds (listed, summed per PaymentIntent).

``python -m payments reconcile`` prints each drift as a JSON line and a summary;
``--repair`` moves drifted payments forward the way the missed webhook would have (the same
code path, so the same forward-only rules and the events we missed are emitted), and records
refunds Stripe made that we have no record of (a refund whose commit was lost, one made in
the Dashboard) with their ``PaymentRefunded``. A drift that would move a payment backwards
(a status, or a refunded amount larger than Stripe's) is reported, never repaired.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from dropwave_contracts.events import PaymentRefunded
from dropwave_runtime.db import Database
from sqlalchemy import select

from ..domain import PRODUCER, PaymentStatus, can_transition, webhook_target
from ..models import Payment, Refund
from ..stripe_gateway import StripeGateway
from ..webhooks.handlers import on_payment_intent_webhook

EVENT_TYPE_FOR_STATUS = {
    "requires_capture": "payment_intent.amount_capturable_updated",
    "succeeded": "payment_intent.succeeded",
    "canceled": "payment_intent.canceled",
}


S = PaymentStatus
CONSISTENT: dict[PaymentStatus, frozenset[str]] = {
    S.PENDING: frozenset({"requires_payment_method", "requires_confirmation"}),
    S.REQUIRES_ACTION: frozenset(
        {"requires_action", "requires_payment_method", "requires_confirmation", "processing"}
    ),
    S.AUTHORIZED: frozenset({"requires_capture"}),
    S.CAPTURED: frozenset({"succeeded"}),
    S.REFUNDED: frozenset({"succeeded"}),
    S.CAPTURE_FAILED: frozenset(
        {"canceled", "requires_payment_method", "requires_action", "requires_capture"}
    ),
    S.RELEASED: frozenset({"canceled"}),
    S.FAILED: frozenset({"canceled", "requires_payment_method"}),
}
"""Stripe PaymentIntent statuses that agree with each of our payment states."""


REFUNDED_AT_STRIPE = frozenset({"succeeded", "pending"})
"""Refund statuses that count as money going back (``failed`` / ``canceled`` do not)."""
RECONCILE_REQUESTER = "reconcile"
"""``Refund.requested_by`` of a refund recorded by reconciliation (made outside our flow)."""


@dataclass(frozen=True)
class Drift:
    order_id: str
    payment_intent_id: str | None
    ours: str
    stripe: str
    """Stripe's PaymentIntent status, or ``missing``; for ``kind="refunded"``: the amounts."""
    repairable: bool
    repaired: bool = False
    kind: str = "status"
    """``status``: the payment's state; ``refunded``: the refunded amount (``ours`` and
    ``stripe`` are then cents)."""


def _event_type(intent: dict[str, Any]) -> str | None:
    status = str(intent.get("status"))
    if status == "requires_payment_method" and intent.get("last_payment_error"):
        return "payment_intent.payment_failed"
    return EVENT_TYPE_FOR_STATUS.get(status)


def _expected(intent: dict[str, Any], ours: PaymentStatus) -> PaymentStatus | None:
    event_type = _event_type(intent)
    if event_type is None:
        return None
    return webhook_target(event_type, str(intent.get("status")), ours)


async def reconcile(
    db: Database,
    gateway: StripeGateway,
    *,
    repair: bool,
    since: datetime | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> list[Drift]:
    """Every payment whose state disagrees with its PaymentIntent at Stripe, and every one
    whose refunded amount disagrees with the sum of its refunds there; with ``since``, only
    payments (and Stripe objects) created since then. ``progress(what, count)`` after each
    hundred listed."""
    intents: dict[str, dict[str, Any]] = {}
    listed = 0
    async for intent in gateway.payment_intents(since):
        listed += 1
        if progress is not None and listed % 100 == 0:
            progress("payment intents", listed)
        data = intent.to_dict()
        if (data.get("metadata") or {}).get("order_id"):
            intents[data["id"]] = data
    refunded_at_stripe: dict[str, dict[str, int]] = {}
    """PaymentIntent -> {refund id: amount} of its refunds that count"""
    async for item in gateway.refunds(since):
        data = item.to_dict()
        intent_id = data.get("payment_intent")
        if isinstance(intent_id, str) and data.get("status") in REFUNDED_AT_STRIPE:
            refunded_at_stripe.setdefault(intent_id, {})[data["id"]] = int(data["amount"])
    async with db.sessions() as session:
        ours = select(Payment).where(Payment.payment_intent_id.is_not(None))
        if since is not None:
            ours = ours.where(Payment.created_at >= since)
        payments = (await session.scalars(ours)).all()
    drifts: list[Drift] = []
    for payment in payments:
        assert payment.payment_intent_id is not None
        if (drift := await _status_drift(db, payment, intents, repair=repair)) is not None:
            drifts.append(drift)
        stripe_refunds_of = refunded_at_stripe.get(payment.payment_intent_id, {})
        if sum(stripe_refunds_of.values()) != payment.refunded_cents:
            refund_drift = await _refund_drift(
                db, payment.order_id, stripe_refunds_of, repair=repair
            )
            if refund_drift is not None:
                drifts.append(refund_drift)
    return drifts


async def _status_drift(
    db: Database, payment: Payment, intents: dict[str, dict[str, Any]], *, repair: bool
) -> Drift | None:
    """The payment's state against its PaymentIntent's status (``None``: they agree)."""
    assert payment.payment_intent_id is not None
    intent = intents.get(payment.payment_intent_id)
    ours = PaymentStatus(payment.status)
    if intent is None:
        return Drift(str(payment.order_id), payment.payment_intent_id, ours.value, "missing", False)
    status = str(intent.get("status"))
    if status in CONSISTENT.get(ours, frozenset()) or (
        ours is S.AUTHORIZED and status == "canceled" and payment.hold_expired
    ):
        return None
    target = _expected(intent, ours)
    drift = Drift(
        str(payment.order_id),
        payment.payment_intent_id,
        ours.value,
        status,
        repairable=target is not None and can_transition(ours, target),
    )
    if repair and drift.repairable:
        drift = await _repair(db, payment.order_id, intent, drift)
    return drift


async def _refund_drift(
    db: Database, order_id: uuid.UUID, at_stripe: dict[str, int], *, repair: bool
) -> Drift | None:
    """Our refunded amount differs from the sum of Stripe's refunds of the PaymentIntent.

    Repairable when Stripe's refunds include ones we have no record of and adding them
    makes the amounts agree (never above what was captured): each is recorded and its
    ``PaymentRefunded`` emitted, all in one transaction under the payment's lock (the same
    lock refunds take, so a refund in flight is not counted twice). Anything else (we
    recorded more than Stripe refunded) is reported only.
    """
    async with db.unit_of_work() as uow:
        payment = await uow.session.scalar(
            select(Payment).where(Payment.order_id == order_id).with_for_update()
        )
        assert payment is not None
        assert payment.payment_intent_id is not None
        known = set(
            await uow.session.scalars(select(Refund.refund_id).where(Refund.order_id == order_id))
        )
        missing = {rid: amount for rid, amount in at_stripe.items() if rid not in known}
        ours, theirs = payment.refunded_cents, sum(at_stripe.values())
        if ours == theirs:
            return None  # a refund in flight at listing time has committed meanwhile
        captured = (
            payment.amount_cents if payment.captured_cents is None else payment.captured_cents
        )
        status = PaymentStatus(payment.status)
        repairable = (
            bool(missing)
            and ours + sum(missing.values()) == theirs
            and theirs <= captured
            and status in (S.CAPTURED, S.REFUNDED)
        )
        drift = Drift(
            str(order_id),
            payment.payment_intent_id,
            str(ours),
            str(theirs),
            repairable=repairable,
            kind="refunded",
        )
        if not (repair and repairable):
            return drift
        for refund_id, amount in sorted(missing.items()):
            uow.session.add(
                Refund(
                    refund_id=refund_id,
                    order_id=order_id,
                    amount_cents=amount,
                    requested_by=RECONCILE_REQUESTER,
                )
            )
            await uow.emit(
                PaymentRefunded(
                    producer=PRODUCER,
                    correlation_id=payment.correlation_id or str(order_id),
                    causation_id=f"reconcile:{refund_id}"[:128],
                    campaign_id=payment.campaign_id,
                    order_id=order_id,
                    payment_intent_id=payment.payment_intent_id,
                    refund_id=refund_id,
                    amount_cents=amount,
                    currency=payment.currency,
                )
            )
        payment.refunded_cents = theirs
        if theirs >= captured and can_transition(status, S.REFUNDED):
            payment.status = S.REFUNDED.value
        return Drift(**{**asdict(drift), "repaired": True})


async def _repair(db: Database, order_id: uuid.UUID, intent: dict[str, Any], drift: Drift) -> Drift:
    event_type = _event_type(intent)
    assert event_type is not None
    async with db.unit_of_work() as uow:
        emitted = await on_payment_intent_webhook(
            uow, f"reconcile:{intent['id']}:{intent['status']}"[:128], event_type, intent
        )
    return Drift(**{**asdict(drift), "repaired": emitted is not None})
