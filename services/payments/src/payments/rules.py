"""Rules for refunds and the authorization window: pure, no I/O."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from .domain import PaymentStatus

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


def hold_expired(capture_before: datetime | None, hold_expired_flag: bool, now: datetime) -> bool:
    """Whether the authorization can no longer be captured: Stripe canceled it when its window
    passed, or ``capture_before`` is behind us."""
    return hold_expired_flag or (capture_before is not None and capture_before <= now)


HOLD_EXPIRED_CODES = frozenset(
    {"charge_expired_for_capture", "capture_charge_authorization_expired"}
)
"""Stripe's documented error codes for capturing an authorization whose window passed."""


def hold_gone(error_code: str | None, intent_status: str, cancellation_reason: str | None) -> bool:
    """Whether a refused capture means the authorization expired (so the saved card is charged
    off-session instead): Stripe said so in the error code, or it canceled the PaymentIntent
    itself when the window passed (``cancellation_reason=automatic``). A PaymentIntent
    canceled for any other reason (released by us or an operator) is not charged."""
    if error_code in HOLD_EXPIRED_CODES:
        return True
    return intent_status == "canceled" and cancellation_reason == "automatic"


def pay_later_until(now: datetime, grace_s: float) -> datetime:
    return now + timedelta(seconds=grace_s)


def next_reminder_at(now: datetime, until: datetime, every_s: float) -> datetime:
    """The next reminder: ``every_s`` from now, but never after the grace period's end."""
    return min(now + timedelta(seconds=every_s), until)
