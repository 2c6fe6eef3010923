"""Refund rules (pure, no I/O): what is left to refund, the idempotency key of a refund
step, and why a refund is refused."""

from __future__ import annotations

import uuid

from dropwave_runtime.errors import Conflict, NotFound

from ..domain import PaymentStatus

REFUNDABLE = frozenset({PaymentStatus.CAPTURED})


def refundable_cents(
    status: PaymentStatus, amount_cents: int, captured_cents: int | None, refunded_cents: int
) -> int:
    """What can still be refunded: the captured amount minus earlier refunds (0 unless
    captured)."""
    if status not in REFUNDABLE:
        return 0
    captured = amount_cents if captured_cents is None else captured_cents
    return max(captured - refunded_cents, 0)


def refund_idempotency_key(order_id: uuid.UUID, refunded_before: int, amount_cents: int) -> str:
    """One key per refund *step*: a retry of the same request (after a crash or a lost
    answer) replays the same refund; the next refund of the order has another key."""
    return f"refund:{order_id}:{refunded_before}:{amount_cents}"


class PaymentNotFound(NotFound):
    """No such payment, or not one of the caller's campaigns' (the same answer)."""

    def __init__(self) -> None:
        super().__init__("payment_not_found", "No such payment")


class NotRefundable(Conflict):
    def __init__(self, status: str) -> None:
        super().__init__(
            "not_refundable",
            f"The payment is {status}; only captured amounts can be refunded.",
        )


class RefundExceedsCaptured(Conflict):
    def __init__(self, refundable_cents: int) -> None:
        super().__init__(
            "refund_exceeds_captured", f"At most {refundable_cents} can still be refunded."
        )
        self.refundable_cents = refundable_cents


class RefundRefused(Conflict):
    """Stripe refused the refund; the message is Stripe's."""

    def __init__(self, message: str) -> None:
        super().__init__("refund_refused", message)
