"""``POST /api/v1/payments/{order_id}/refunds``: the campaign's owner refunds an order."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated, Any

from dropwave_runtime.auth import CreatorId
from dropwave_runtime.bootstrap import provided
from dropwave_runtime.errors import DomainError
from dropwave_runtime.problems import Problem, problem_from
from dropwave_runtime.service import Runtime
from fastapi import APIRouter

from ..settings import Settings
from ..stripe_gateway import StripeGateway
from .commands import RefundOrder
from .domain import RefundExceedsCaptured
from .handlers import refund_order
from .schemas import RefundRequest

router = APIRouter(prefix="/api/v1/payments", tags=["refunds"])

TITLES = {
    "payment_not_found": "No such payment",
    "not_refundable": "Nothing to refund",
    "refund_exceeds_captured": "The refund is larger than what is left to refund",
    "refund_refused": "Stripe refused the refund",
}


def _problem(error: DomainError) -> Problem:
    extra = (
        {"refundable_cents": error.refundable_cents}
        if isinstance(error, RefundExceedsCaptured)
        else {}
    )
    return problem_from(error, TITLES[error.code], **extra)


@router.post("/{order_id}/refunds", status_code=201)
async def create_refund(
    order_id: uuid.UUID,
    creator: CreatorId,
    rt: Runtime[Settings],
    gateway: Annotated[StripeGateway, provided("gateway")],
    body: RefundRequest | None = None,
) -> dict[str, Any]:
    """Refund an order of one of the caller's campaigns, fully or partly (after capture)."""
    command = RefundOrder(order_id, body.amount_cents if body else None, creator)
    try:
        outcome = await refund_order(command, rt.db, gateway)
    except DomainError as error:
        raise _problem(error) from error
    return asdict(outcome)
