"""Refunding an order's captured payment.

Never more than was captured: the payment row is locked for the whole refund (one at a time
per order), the amount is checked against captured minus refunded in our database, and
Stripe refuses too (``amount_too_large``). The Stripe call's idempotency key is derived from
the order and what was refunded before, so a retry replays, never repeats.
"""

from __future__ import annotations

from dataclasses import dataclass

from dropwave_contracts.events import PaymentRefunded
from dropwave_runtime.db import Database
from sqlalchemy import select

from ..connect.handlers import campaign_owner
from ..domain import PRODUCER, PaymentStatus
from ..models import Payment, Refund
from ..stripe_gateway import RefundRefusedError, StripeGateway
from .commands import RefundOrder
from .domain import (
    NotRefundable,
    PaymentNotFound,
    RefundExceedsCaptured,
    RefundRefused,
    refund_idempotency_key,
    refundable_cents,
)

OPERATOR = "operator"


@dataclass(frozen=True)
class RefundOutcome:
    order_id: str
    refund_id: str
    amount_cents: int
    refunded_cents: int
    """Refunded so far, this refund included."""
    status: str


async def refund_order(command: RefundOrder, db: Database, gateway: StripeGateway) -> RefundOutcome:
    """Refund the order's captured payment as ``command`` says.

    Raises :class:`PaymentNotFound` (also for someone else's order), :class:`NotRefundable`,
    :class:`RefundExceedsCaptured` or :class:`RefundRefused` (Stripe's refusal).
    """
    order_id, creator_id = command.order_id, command.creator_id
    async with db.unit_of_work() as uow:
        payment = await uow.session.scalar(
            select(Payment).where(Payment.order_id == order_id).with_for_update()
        )
        if payment is None or (
            creator_id is not None and await campaign_owner(uow, payment.campaign_id) != creator_id
        ):
            raise PaymentNotFound()
        left = refundable_cents(
            PaymentStatus(payment.status),
            payment.amount_cents,
            payment.captured_cents,
            payment.refunded_cents,
        )
        if left == 0 or payment.payment_intent_id is None:
            raise NotRefundable(payment.status)
        amount = left if command.amount_cents is None else command.amount_cents
        if amount > left:
            raise RefundExceedsCaptured(left)
        try:
            refund_id = await gateway.refund(
                payment.payment_intent_id,
                amount,
                refund_idempotency_key(order_id, payment.refunded_cents, amount),
                reverse_transfer=payment.destination_account is not None,
            )
        except RefundRefusedError as exc:
            raise RefundRefused(str(exc)) from exc
        payment.refunded_cents += amount
        if amount == left:  # nothing left: fully refunded
            payment.status = PaymentStatus.REFUNDED.value
        uow.session.add(
            Refund(
                refund_id=refund_id,
                order_id=order_id,
                amount_cents=amount,
                requested_by=f"creator:{creator_id}" if creator_id else OPERATOR,
            )
        )
        await uow.emit(
            PaymentRefunded(
                producer=PRODUCER,
                correlation_id=payment.correlation_id or str(order_id),
                campaign_id=payment.campaign_id,
                order_id=order_id,
                payment_intent_id=payment.payment_intent_id,
                refund_id=refund_id,
                amount_cents=amount,
                currency=payment.currency,
            )
        )
        return RefundOutcome(
            str(order_id), refund_id, amount, payment.refunded_cents, payment.status
        )
