"""The authorization window: a hold lasts about 7 days, a campaign may run longer.

At authorization the card is saved on a Customer for off-session use. At settlement,
:func:`charge_or_capture` captures a live authorization, or, once the hold has expired
(``capture_before`` passed or Stripe canceled it), charges the saved card off-session. When
that fails (``authentication_required``, a decline) the buyer gets a pay-later link (the
PaymentIntent's ``client_secret``) and a grace period: :func:`open_pay_later` records it and
the pay-later round (:mod:`.jobs`) sends reminders
(``PaymentReminderIssued``), notices payment (the PaymentIntent's ``succeeded`` webhook moves
the payment to captured) and, after the grace period, gives up (``PaymentCaptureFailed`` with
``pay_later_expired``). The campaign stays successful throughout.

The link carries a signed, expiring token (:mod:`.domain`, ``PAY_LINK_SECRET``) on
``PaymentCaptureFailed`` and ``PaymentReminderIssued`` (``pay_token``); with it the buyer reads
what to pay (:func:`pay_later_view`, ``GET /api/v1/payments/{order_id}/pay-later``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from dropwave_contracts.envelope import Event
from dropwave_contracts.events import PaymentCaptured, PaymentCaptureFailed
from dropwave_runtime.db import Database, UnitOfWork
from sqlalchemy import select

from ..domain import PRODUCER, PaymentStatus, hold_expired
from ..models import PayLater, Payment
from .domain import PAID_STATUSES, next_reminder_at, pay_later_until, pay_token

if TYPE_CHECKING:
    from ..settlement.worker import SettlementGateway


@dataclass(frozen=True)
class SettleResult:
    """Outcome of settling one authorization: captured, or failed (maybe with a link)."""

    captured: bool
    payment_intent_id: str
    """The PaymentIntent the money moved on (a new one when charged off-session)."""
    amount_cents: int = 0
    application_fee_cents: int | None = None
    off_session: bool = False
    failure_code: str | None = None
    message: str | None = None
    client_secret: str | None = None
    """For a failure: what the buyer confirms the pay-later PaymentIntent with."""


async def charge_or_capture(
    gateway: SettlementGateway,
    payment: Payment,
    *,
    now: datetime,
    max_network_retries: int | None = None,
) -> SettleResult:
    """Capture the authorization, or charge the saved card off-session once the hold expired.

    Transient Stripe errors propagate (``stripe.StripeError``): retry with the same call;
    both paths are idempotent per order.
    """
    assert payment.payment_intent_id is not None
    if not hold_expired(payment.capture_before, payment.hold_expired, now):
        captured = await gateway.capture(
            payment.payment_intent_id, payment.order_id, max_network_retries=max_network_retries
        )
        if captured.captured or not captured.hold_expired:
            return SettleResult(
                captured=captured.captured,
                payment_intent_id=payment.payment_intent_id,
                amount_cents=captured.amount_cents,
                application_fee_cents=captured.application_fee_cents,
                failure_code=captured.failure_code,
                message=captured.message,
            )
        # Refused because the hold is gone (Stripe canceled it when its window passed, and
        # we never heard): remember it, then the off-session path below.
        payment.hold_expired = True
    if not (payment.customer_id and payment.payment_method_id):
        return SettleResult(
            captured=False,
            payment_intent_id=payment.payment_intent_id,
            failure_code="authorization_expired",
            message="The card's authorization expired and no saved card can be charged.",
        )
    result = await gateway.charge_off_session(
        order_id=payment.order_id,
        campaign_id=payment.campaign_id,
        amount_cents=payment.amount_cents,
        currency=payment.currency,
        customer_id=payment.customer_id,
        payment_method_id=payment.payment_method_id,
        destination_account=payment.destination_account,
        application_fee_cents=payment.application_fee_cents,
        max_network_retries=max_network_retries,
    )
    return SettleResult(
        captured=result.succeeded,
        payment_intent_id=result.payment_intent_id or payment.payment_intent_id,
        amount_cents=result.amount_cents,
        application_fee_cents=result.application_fee_cents,
        off_session=True,
        failure_code=result.failure_code,
        message=result.message,
        client_secret=result.client_secret,
    )


async def open_pay_later(
    uow: UnitOfWork,
    payment: Payment,
    result: SettleResult,
    *,
    now: datetime,
    grace_s: float,
    reminder_every_s: float,
    correlation_id: str,
) -> datetime | None:
    """Offer the buyer a pay-later link when the failed attempt left a PaymentIntent they can
    confirm; returns the end of the grace period (``None``: no link)."""
    if result.captured or result.client_secret is None:
        return None
    until = pay_later_until(now, grace_s)
    payment.payment_intent_id = result.payment_intent_id
    uow.session.add(
        PayLater(
            order_id=payment.order_id,
            campaign_id=payment.campaign_id,
            payment_intent_id=result.payment_intent_id,
            client_secret=result.client_secret,
            until=until,
            status="open",
            reminders_sent=0,
            next_reminder_at=next_reminder_at(now, until, reminder_every_s),
            correlation_id=correlation_id,
        )
    )
    return until


async def settle_payment(
    uow: UnitOfWork,
    payment: Payment,
    gateway: SettlementGateway,
    *,
    grace_s: float,
    reminder_every_s: float,
    now: datetime,
    correlation_id: str,
    causation_id: str | None,
    max_network_retries: int | None = None,
    pay_link_secret: str | None = None,
) -> tuple[SettleResult, Event]:
    """Settle one authorized payment end to end: charge or capture, record, emit
    ``PaymentCaptured`` or ``PaymentCaptureFailed`` (with the pay-later link and its token,
    signed with ``pay_link_secret``; without one the event carries no token)."""
    result = await charge_or_capture(
        gateway, payment, now=now, max_network_retries=max_network_retries
    )
    common: dict[str, Any] = {
        "producer": PRODUCER,
        "correlation_id": correlation_id,
        "causation_id": causation_id,
        "campaign_id": payment.campaign_id,
        "order_id": payment.order_id,
        "payment_intent_id": result.payment_intent_id,
    }
    event: Event
    if result.captured:
        payment.status = PaymentStatus.CAPTURED.value
        payment.payment_intent_id = result.payment_intent_id
        payment.captured_cents = result.amount_cents
        event = PaymentCaptured(
            amount_cents=result.amount_cents,
            currency=payment.currency,
            application_fee_cents=result.application_fee_cents or 0,
            **common,
        )
    else:
        payment.status = PaymentStatus.CAPTURE_FAILED.value
        payment.failure_code = (result.failure_code or "capture_failed")[:255]
        until = await open_pay_later(
            uow,
            payment,
            result,
            now=now,
            grace_s=grace_s,
            reminder_every_s=reminder_every_s,
            correlation_id=correlation_id,
        )
        event = PaymentCaptureFailed(
            failure_code=result.failure_code,
            message=result.message or "The payment could not be taken.",
            pay_later_until=until,
            client_secret=result.client_secret if until else None,
            pay_token=pay_token(pay_link_secret, payment.order_id, until),
            **common,
        )
    await uow.emit(event)
    return result, event


@dataclass(frozen=True)
class PayLaterInfo:
    """What a buyer with a valid link needs to pay (or to see that they have)."""

    order_id: uuid.UUID
    campaign_id: uuid.UUID
    amount_cents: int
    currency: str
    status: Literal["open", "paid"]
    """``open`` (to pay) or ``paid``."""
    pay_later_until: datetime
    client_secret: str | None
    """The pay-later PaymentIntent's, while ``open``; ``None`` once paid."""


async def pay_later_view(db: Database, order_id: uuid.UUID) -> PayLaterInfo | None:
    """The order's pay-later link as the buyer sees it; ``None`` when there is none to show
    (never offered, or given up on at the grace period's end). Reads only."""
    async with db.sessions() as session:
        row = (
            await session.execute(
                select(PayLater, Payment)
                .join(Payment, Payment.order_id == PayLater.order_id)
                .where(PayLater.order_id == order_id)
            )
        ).first()
    if row is None:
        return None
    link, payment = row
    if link.status == "expired":
        return None
    paid = link.status == "paid" or payment.status in PAID_STATUSES
    return PayLaterInfo(
        order_id=link.order_id,
        campaign_id=link.campaign_id,
        amount_cents=payment.amount_cents,
        currency=payment.currency,
        status="paid" if paid else "open",
        pay_later_until=link.until,
        client_secret=None if paid else link.client_secret,
    )
