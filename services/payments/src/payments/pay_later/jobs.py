"""The pay-later round of every instance: reminders to buyers who must pay through their
link, links paid meanwhile closed, and links past the grace period given up."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

import stripe
from dropwave_contracts.events import PaymentCaptureFailed, PaymentReminderIssued
from dropwave_runtime.db import Database
from sqlalchemy import select

from ..domain import PRODUCER, PaymentStatus
from ..models import PayLater, Payment
from ..settings import Settings
from ..stripe_gateway import StripeGateway
from .domain import EXPIRED_CODE, next_reminder_at, pay_token

log = logging.getLogger(__name__)


async def process_pay_later(
    db: Database, gateway: StripeGateway, settings: Settings, now: datetime, limit: int = 100
) -> dict[str, int]:
    """One round over the due pay-later links: paid ones are closed, expired ones given up
    (their PaymentIntent canceled), the others reminded. Safe with several instances
    (``SKIP LOCKED``).

    No Stripe call is made under a lock: the expired links' PaymentIntents are canceled
    first, from a plain read (idempotent: ``pay-later-expired:<order>``), then one short
    transaction locks the due links, re-checks each and records it. An expired link whose
    cancel did not happen in this round waits for the next one."""
    counts = {"paid": 0, "expired": 0, "reminded": 0}
    secret = settings.pay_link_secret.get_secret_value()
    due = (
        select(PayLater, Payment)
        .join(Payment, Payment.order_id == PayLater.order_id)
        .where(PayLater.status == "open", PayLater.next_reminder_at <= now)
        .order_by(PayLater.next_reminder_at)
        .limit(limit)
    )
    async with db.sessions() as session:
        candidates = (await session.execute(due)).all()
    cancelled: set[uuid.UUID] = set()
    for link, payment in candidates:
        expired = payment.status != PaymentStatus.CAPTURED.value and now >= link.until
        if expired and await _cancel_quietly(gateway, link.payment_intent_id, link.order_id):
            cancelled.add(link.order_id)
    async with db.unit_of_work() as uow:
        rows = (await uow.session.execute(due.with_for_update(of=PayLater, skip_locked=True))).all()
        for link, payment in rows:
            common: dict[str, Any] = {
                "producer": PRODUCER,
                "correlation_id": link.correlation_id,
                "campaign_id": link.campaign_id,
                "order_id": link.order_id,
                "payment_intent_id": link.payment_intent_id,
            }
            if payment.status == PaymentStatus.CAPTURED.value:
                link.status = "paid"
                counts["paid"] += 1
            elif now >= link.until:
                if link.order_id not in cancelled:
                    continue  # due since the read, or its cancel in flight elsewhere
                link.status = "expired"
                payment.failure_code = EXPIRED_CODE
                counts["expired"] += 1
                await uow.emit(
                    PaymentCaptureFailed(
                        failure_code=EXPIRED_CODE,
                        message="The payment was not made within the grace period.",
                        pay_later_until=None,
                        **common,
                    )
                )
            else:
                link.reminders_sent += 1
                link.next_reminder_at = next_reminder_at(
                    now, link.until, settings.pay_later_reminder_every_s
                )
                counts["reminded"] += 1
                await uow.emit(
                    PaymentReminderIssued(
                        client_secret=link.client_secret,
                        pay_later_until=link.until,
                        reminder_number=link.reminders_sent,
                        pay_token=pay_token(secret, link.order_id, link.until),
                        **common,
                    )
                )
    return counts


async def _cancel_quietly(
    gateway: StripeGateway, payment_intent_id: str, order_id: uuid.UUID
) -> bool:
    """Cancel the unpaid pay-later PaymentIntent so the link stops working (already canceled
    or paid in the meantime: fine; the webhook tells). False when another instance's cancel
    of it is in flight (Stripe answers 409 to the same key): that instance records it."""
    try:
        done = await gateway.cancel_pay_later(payment_intent_id, order_id)
    except stripe.IdempotencyError:
        return False
    if not done:
        log.info("pay-later PaymentIntent %s not cancelable", payment_intent_id)
    return True


async def pay_later_round(db: Database, gateway: StripeGateway, settings: Settings) -> None:
    """The periodic job of every instance: one round over the due pay-later links."""
    await process_pay_later(db, gateway, settings, await db.now())
