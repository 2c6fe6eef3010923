"""Payments domain: pure rules, no I/O.

* where an order's payment stands (:class:`PaymentStatus`) and which moves are allowed
  (forward only: a late or replayed webhook never moves a payment backwards);
* how a Stripe PaymentIntent status, or a decline, maps to an authorization outcome;
* the idempotency keys of an order's Stripe calls;
* when an authorization's hold is gone (its window passed).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

PRODUCER: Final = "payments"
"""``producer`` of every event payments emits."""


class PaymentStatus(StrEnum):
    PENDING = "pending"
    AUTHORIZED = "authorized"
    REQUIRES_ACTION = "requires_action"
    FAILED = "failed"
    CAPTURED = "captured"
    CAPTURE_FAILED = "capture_failed"
    RELEASED = "released"
    REFUNDED = "refunded"


S = PaymentStatus

TRANSITIONS: Final[Mapping[PaymentStatus, frozenset[PaymentStatus]]] = {
    S.PENDING: frozenset({S.AUTHORIZED, S.REQUIRES_ACTION, S.FAILED, S.RELEASED}),
    S.REQUIRES_ACTION: frozenset({S.AUTHORIZED, S.FAILED, S.RELEASED}),
    S.AUTHORIZED: frozenset({S.CAPTURED, S.CAPTURE_FAILED, S.RELEASED}),
    S.CAPTURED: frozenset({S.REFUNDED}),
    # A capture given up on at settlement may still turn out captured (a late webhook of a
    # capture whose response was lost) or be paid later.
    S.CAPTURE_FAILED: frozenset({S.CAPTURED}),
    S.FAILED: frozenset(),
    S.RELEASED: frozenset(),
    S.REFUNDED: frozenset(),
}
"""Allowed moves. ``failed`` is terminal: orders cancels the order on ``PaymentFailed``, so a
later success on the same PaymentIntent (the buyer retrying client-side) is not taken."""

AUTHORIZATION_DONE: Final = frozenset(S) - {S.PENDING}
"""Statuses in which an order's authorization step is over: its queued ``authorize`` item is
not sent to Stripe (again) (``requires_action`` included: the buyer finishes it, webhooks
move it on)."""


def can_transition(current: PaymentStatus, target: PaymentStatus) -> bool:
    return target in TRANSITIONS[current]


def authorization_idempotency_key(order_id: uuid.UUID) -> str:
    """Stripe idempotency key of an order's PaymentIntent creation (one per order, <=255)."""
    return f"authorize:{order_id}"


def release_idempotency_key(order_id: uuid.UUID) -> str:
    """Stripe idempotency key of cancelling an order's PaymentIntent (releasing its hold)."""
    return f"release:{order_id}"


def capture_idempotency_key(order_id: uuid.UUID) -> str:
    """Stripe idempotency key of capturing an order's PaymentIntent at settlement: every
    retry (429, 5xx, timeout, a crash) sends the same key, so Stripe captures once."""
    return f"capture:{order_id}"


HOLD_S: Final = 6 * 24 * 3600.0
"""How long an authorization is relied on to hold: Stripe's 7 days for online card payments
minus a day of safety (``AUTHORIZATION_HOLD_S``)."""
SETTLEMENT_MARGIN_S: Final = 24 * 3600.0
"""How long after a deadline captures may still run (``SETTLEMENT_MARGIN_S``)."""


@dataclass(frozen=True)
class CardSaving:
    """When an order's card is saved for an off-session charge (a Customer and
    ``setup_future_usage``: one more Stripe request per order, ADR 0005)."""

    hold_s: float = HOLD_S
    settlement_margin_s: float = SETTLEMENT_MARGIN_S

    def needed(self, deadline: datetime | None, now: datetime) -> bool:
        """Only when the campaign's captures may come after the authorization's hold is
        gone: its deadline plus the settlement margin is later than now plus the hold
        window. A campaign that closes within the hold needs the PaymentIntent alone. An
        unknown deadline (an ``OrderPlaced`` from before it carried one) saves the card, as
        every order did before."""
        if deadline is None:
            return True
        return deadline + timedelta(seconds=self.settlement_margin_s) > now + timedelta(
            seconds=self.hold_s
        )


DEFAULT_CARD_SAVING: Final = CardSaving()


def platform_fee_cents(amount_cents: int, fee_bps: int) -> int:
    """The platform fee of a charge, in basis points, rounded half up to a whole cent."""
    return (amount_cents * fee_bps + 5_000) // 10_000


DECLINED_MESSAGE: Final = "Your card was declined."
FAILED_MESSAGE: Final = "The payment could not be completed."


@dataclass(frozen=True)
class AuthorizationResult:
    """Outcome of authorizing one order's amount (capture comes later, at settlement)."""

    status: PaymentStatus
    """``AUTHORIZED``, ``REQUIRES_ACTION`` or ``FAILED``."""
    payment_intent_id: str | None
    client_secret: str | None = None
    next_action: str | None = None
    capture_before: datetime | None = None
    failure_code: str | None = None
    decline_code: str | None = None
    message: str | None = None
    """For ``FAILED``: a message safe to show the buyer."""
    customer_id: str | None = None
    """The Customer the card is saved on for off-session use (``setup_future_usage``)."""
    payment_method_id: str | None = None
    """The card Stripe confirmed with (reused off-session past the authorization window)."""


def outcome_of_intent_status(intent_status: str) -> PaymentStatus:
    """Map a PaymentIntent ``status`` (right after create/confirm) to our outcome.

    ``requires_capture``: authorized. ``succeeded`` cannot happen with manual capture but is
    treated as authorized too (money is held or taken). ``requires_payment_method`` /
    ``requires_confirmation`` / ``requires_action`` / ``processing``: the client has to finish
    (or wait) with the ``client_secret``. ``canceled``: failed.
    """
    if intent_status in ("requires_capture", "succeeded"):
        return S.AUTHORIZED
    if intent_status == "canceled":
        return S.FAILED
    return S.REQUIRES_ACTION


def declined(
    payment_intent_id: str | None,
    code: str | None,
    decline_code: str | None,
    message: str | None = None,
) -> AuthorizationResult:
    """A card decline (Stripe ``card_error``) as a failed authorization."""
    return AuthorizationResult(
        status=S.FAILED,
        payment_intent_id=payment_intent_id,
        failure_code=code or "card_declined",
        decline_code=decline_code,
        message=message or DECLINED_MESSAGE,
    )


# --- webhooks ---------------------------------------------------------------------------

WEBHOOK_EVENT_TYPES: Final = frozenset(
    {
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
        "payment_intent.amount_capturable_updated",
    }
)

CHARGE_WEBHOOK_EVENT_TYPES: Final = frozenset(
    {"charge.succeeded", "charge.updated", "charge.expired"}
)
"""Charge events that tell about an authorization's window (``capture_before``, expiry)."""


def webhook_target(
    event_type: str, intent_status: str, current: PaymentStatus
) -> PaymentStatus | None:
    """The status a PaymentIntent webhook moves a payment to, or ``None`` to change nothing.

    The object's own ``status`` decides, not the event type alone: events can arrive late
    and out of order, so a ``payment_intent.succeeded`` whose object is still
    ``requires_capture`` is treated as an authorization, never as a capture. A ``canceled``
    PaymentIntent releases a held authorization; one that never got authorized failed.
    """
    target: PaymentStatus | None
    if event_type not in WEBHOOK_EVENT_TYPES:
        target = None
    elif event_type == "payment_intent.payment_failed":
        target = S.FAILED
    elif event_type == "payment_intent.canceled" or intent_status == "canceled":
        target = S.RELEASED if current == S.AUTHORIZED else S.FAILED
    elif intent_status == "requires_capture":
        target = S.AUTHORIZED
    elif intent_status == "succeeded":
        target = S.CAPTURED
    else:
        target = None
    if target is None or not can_transition(current, target):
        return None
    return target


def stripe_event_uuid(stripe_event_id: str) -> uuid.UUID:
    """Inbox key of a Stripe event (``evt_...``): a stable UUID derived from its id."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"https://api.stripe.com/v1/events/{stripe_event_id}")


# --- the authorization window -----------------------------------------------------------


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
