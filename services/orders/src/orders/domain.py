"""Order rules, free of I/O."""

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any
from uuid import UUID

from dropwave_runtime.errors import Conflict

# Forward-only order state machine: an event may move an order only along these edges.
TRANSITIONS: dict[str, set[str]] = {
    "pending": {"authorized", "requires_action", "failed", "cancelled"},
    "requires_action": {"authorized", "failed", "cancelled"},
    "authorized": {"captured", "capture_failed", "cancelled"},
    "capture_failed": {"captured", "refunded"},
    "captured": {"refunded"},
    "failed": set(),
    "cancelled": set(),
    "refunded": set(),
}


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, set())


def status_after_refunds(status: str, amount_cents: int, refunded_cents: int) -> str:
    """What an order reads once ``refunded_cents`` of it were refunded: ``refunded`` when the
    refunds cover what was charged (the order's amount), if its state allows; a partly
    refunded order keeps its status (its ``refunded_cents`` tell)."""
    if refunded_cents >= amount_cents and can_move(status, "refunded"):
        return "refunded"
    return status


_NOT_OPEN: dict[str, tuple[str, str]] = {
    "draft": ("campaign_not_published", "The campaign is not published yet."),
    "successful": ("campaign_closed", "The campaign has closed (it succeeded)."),
    "failed": ("campaign_closed", "The campaign has closed (it did not reach its minimum)."),
    "cancelled": ("campaign_cancelled", "The campaign was cancelled by its creator."),
}

CANCELLABLE = frozenset({"pending", "requires_action", "authorized"})
"""Order statuses a buyer may still cancel (before the deadline)."""


BUYER_CANCELLED = "buyer_cancelled"
NOT_AUTHORIZED_IN_TIME = "not_authorized_in_time"


def check_open(status: str, deadline: datetime, now: datetime, intake_closed: bool = False) -> None:
    """Refuse an order unless the campaign is active, before its deadline and its intake
    not closed (the closing job's flag decides; the clock only refuses earlier)."""
    if status != "active":
        code, message = _NOT_OPEN.get(status, ("campaign_not_open", f"The campaign is {status}."))
        raise Conflict(code, message)
    if intake_closed or deadline <= now:
        raise Conflict("deadline_passed", "The campaign's deadline has passed.")


def check_cancellable(
    order_status: str,
    campaign_status: str,
    deadline: datetime,
    now: datetime,
    intake_closed: bool = False,
) -> None:
    """A buyer cancels only before the deadline (and before the closing tally took the
    campaign's intake), while the campaign runs and the order is not final (captured,
    failed, cancelled... are past the point of no return)."""
    if order_status not in CANCELLABLE:
        raise Conflict("order_not_cancellable", f"The order is {order_status}.")
    if campaign_status != "active":
        raise Conflict("campaign_closed", f"The campaign is {campaign_status}.")
    if intake_closed or deadline <= now:
        raise Conflict("deadline_passed", "The campaign's deadline has passed; orders are final.")


def buyer_numbers(last: int, count: int) -> range:
    """The next `count` buyer numbers after `last`: consecutive, never reused."""
    return range(last - count + 1, last + 1)


def fingerprint(slug: str, body: dict[str, Any]) -> str:
    """Identifies a request body, so one Idempotency-Key can't carry two different orders."""
    canonical = json.dumps({"slug": slug, "body": body}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def order_token(secret: str, order_id: UUID) -> str:
    return hmac.new(secret.encode(), order_id.bytes, hashlib.sha256).hexdigest()


def token_matches(secret: str, order_id: UUID, token: str) -> bool:
    """Constant-time; compared as bytes, so any text (non-ASCII too) is simply no match."""
    given = token.encode("utf-8", "surrogatepass")
    return hmac.compare_digest(order_token(secret, order_id).encode(), given)
