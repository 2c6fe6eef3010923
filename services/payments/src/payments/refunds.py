"""Refunds of captured payments, by the campaign's owner (API) or an operator (CLI).

Never more than was captured: the payment row is locked for the whole refund (one at a time
per order), the amount is checked against captured minus refunded in our database, and
Stripe refuses too (``amount_too_large``). The Stripe call's idempotency key is derived from
the order and what was refunded before, so a retry replays, never repeats.
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
from dropwave_contracts.events import PaymentRefunded
from dropwave_runtime.auth import CreatorId
from dropwave_runtime.cli import Command
from dropwave_runtime.db import Database
from dropwave_runtime.problems import Problem
from dropwave_runtime.service import Runtime
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from .connect import campaign_owner, gateway_of
from .domain import PaymentStatus
from .models import Payment
from .models_connect import Refund
from .rules import refund_idempotency_key, refundable_cents
from .settings import Settings
from .stripe_connect import RefundRefusedError, refund
from .stripe_gateway import StripeGateway

router = APIRouter(prefix="/api/v1/payments", tags=["refunds"])
PRODUCER = "payments"
OPERATOR = "operator"


class RefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_cents: int | None = Field(None, gt=0, le=100_000_000)
    """``None``: everything still refundable."""


@dataclass(frozen=True)
class RefundOutcome:
    order_id: str
    refund_id: str
    amount_cents: int
    refunded_cents: int
    """Refunded so far, this refund included."""
    status: str


async def refund_order(
    db: Database,
    client: stripe.StripeClient,
    order_id: uuid.UUID,
    amount_cents: int | None,
    *,
    creator_id: str | None,
) -> RefundOutcome:
    """Refund an order's captured payment, fully (``amount_cents=None``) or partly.

    ``creator_id``: the caller must own the order's campaign (``None``: an operator). Raises
    a :class:`Problem`: 404 ``payment_not_found`` (also for someone else's order), 409
    ``not_refundable`` / ``refund_exceeds_captured`` / ``refund_refused``.
    """
    async with db.unit_of_work() as uow:
        payment = await uow.session.scalar(
            select(Payment).where(Payment.order_id == order_id).with_for_update()
        )
        if payment is None or (
            creator_id is not None and await campaign_owner(uow, payment.campaign_id) != creator_id
        ):
            raise Problem(404, "payment_not_found", "No such payment")
        left = refundable_cents(
            PaymentStatus(payment.status),
            payment.amount_cents,
            payment.captured_cents,
            payment.refunded_cents,
        )
        if left == 0 or payment.payment_intent_id is None:
            raise Problem(
                409,
                "not_refundable",
                "Nothing to refund",
                f"The payment is {payment.status}; only captured amounts can be refunded.",
            )
        amount = left if amount_cents is None else amount_cents
        if amount > left:
            raise Problem(
                409,
                "refund_exceeds_captured",
                "The refund is larger than what is left to refund",
                f"At most {left} can still be refunded.",
                refundable_cents=left,
            )
        try:
            refund_id = await refund(
                client,
                payment.payment_intent_id,
                amount,
                refund_idempotency_key(order_id, payment.refunded_cents, amount),
                reverse_transfer=payment.destination_account is not None,
            )
        except RefundRefusedError as exc:
            raise Problem(409, "refund_refused", "Stripe refused the refund", str(exc)) from exc
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


@router.post("/{order_id}/refunds", status_code=201)
async def create_refund(
    order_id: uuid.UUID,
    creator: CreatorId,
    rt: Runtime[Settings],
    request: Request,
    body: RefundRequest | None = None,
) -> dict[str, Any]:
    """Refund an order of one of the caller's campaigns, fully or partly (after capture)."""
    outcome = await refund_order(
        rt.db,
        gateway_of(request).client,
        order_id,
        body.amount_cents if body else None,
        creator_id=creator,
    )
    return asdict(outcome)


# --- operator CLI: python -m payments refund <order_id> [--amount-cents N] -------------------


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("order_id", type=uuid.UUID)
    parser.add_argument("--amount-cents", type=int, default=None, help="default: all that is left")


def _handle(args: argparse.Namespace, settings: Settings) -> int:
    if args.amount_cents is not None and args.amount_cents <= 0:
        sys.stderr.write("--amount-cents must be positive\n")
        return 2

    async def go() -> RefundOutcome:
        db = Database(settings.database_url, "payments", pool_size=1)
        gateway = StripeGateway.from_settings(settings)
        try:
            return await refund_order(
                db, gateway.client, args.order_id, args.amount_cents, creator_id=None
            )
        finally:
            await gateway.aclose()
            await db.dispose()

    try:
        outcome = asyncio.run(go())
    except Problem as exc:
        sys.stderr.write(
            f"{exc.code}: {exc.title}" + (f" ({exc.detail})" if exc.detail else "") + "\n"
        )
        return 1
    sys.stdout.write(json.dumps(asdict(outcome)) + "\n")
    return 0


REFUND_COMMAND = Command("refund a captured order, fully or partly (operator)", _configure, _handle)
