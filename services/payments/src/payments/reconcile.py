"""Reconciliation: our payment states against Stripe's, matched by PaymentIntent (listed,
then joined by id; the order id is in every PaymentIntent's metadata).

``python -m payments reconcile`` prints each drift as a JSON line and a summary;
``--repair`` moves drifted payments forward the way the missed webhook would have (the same
code path, so the same forward-only rules and the events we missed are emitted). A drift
that would move a payment backwards is reported, never repaired.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import stripe
from dropwave_runtime.cli import Command
from dropwave_runtime.db import Database
from sqlalchemy import select

from .domain import PaymentStatus, can_transition, webhook_target
from .handlers import on_payment_intent_webhook
from .models import Payment
from .settings import Settings
from .stripe_connect import payment_intents
from .stripe_gateway import StripeGateway

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


@dataclass(frozen=True)
class Drift:
    order_id: str
    payment_intent_id: str | None
    ours: str
    stripe: str
    """Stripe's PaymentIntent status, or ``missing``."""
    repairable: bool
    repaired: bool = False


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


async def reconcile(db: Database, client: stripe.StripeClient, *, repair: bool) -> list[Drift]:
    """Every payment whose state disagrees with its PaymentIntent at Stripe."""
    intents: dict[str, dict[str, Any]] = {}
    async for intent in payment_intents(client):
        data = intent.to_dict()
        if (data.get("metadata") or {}).get("order_id"):
            intents[data["id"]] = data
    async with db.sessions() as session:
        payments = (
            await session.scalars(select(Payment).where(Payment.payment_intent_id.is_not(None)))
        ).all()
    drifts: list[Drift] = []
    for payment in payments:
        assert payment.payment_intent_id is not None
        intent = intents.get(payment.payment_intent_id)
        ours = PaymentStatus(payment.status)
        if intent is None:
            drifts.append(
                Drift(
                    str(payment.order_id), payment.payment_intent_id, ours.value, "missing", False
                )
            )
            continue
        status = str(intent.get("status"))
        if status in CONSISTENT.get(ours, frozenset()) or (
            ours is S.AUTHORIZED and status == "canceled" and payment.hold_expired
        ):
            continue
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
        drifts.append(drift)
    return drifts


async def _repair(db: Database, order_id: uuid.UUID, intent: dict[str, Any], drift: Drift) -> Drift:
    event_type = _event_type(intent)
    assert event_type is not None
    async with db.unit_of_work() as uow:
        emitted = await on_payment_intent_webhook(
            uow, f"reconcile:{intent['id']}:{intent['status']}"[:128], event_type, intent
        )
    return Drift(**{**asdict(drift), "repaired": emitted is not None})


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repair", action="store_true", help="move drifted payments forward")


def _handle(args: argparse.Namespace, settings: Settings) -> int:
    async def go() -> list[Drift]:
        db = Database(settings.database_url, "payments", pool_size=1)
        gateway = StripeGateway.from_settings(settings)
        try:
            return await reconcile(db, gateway.client, repair=args.repair)
        finally:
            await gateway.aclose()
            await db.dispose()

    drifts = asyncio.run(go())
    for drift in drifts:
        sys.stdout.write(json.dumps(asdict(drift)) + "\n")
    left = sum(1 for d in drifts if not d.repaired)
    sys.stdout.write(json.dumps({"drifts": len(drifts), "unrepaired": left}) + "\n")
    return 1 if left else 0


RECONCILE_COMMAND = Command(
    "compare payment states with Stripe's; --repair moves drifted ones forward",
    _configure,
    _handle,
)
