"""Order rules, free of I/O."""

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any
from uuid import UUID

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


class OrderRefused(Exception):
    """The campaign does not take this order; the API answers with `status` and `code`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, set())


def check_open(status: str, deadline: datetime, now: datetime) -> None:
    if status != "active":
        raise OrderRefused(409, "campaign_not_open", f"The campaign is {status}.")
    if deadline <= now:
        raise OrderRefused(409, "deadline_passed", "The campaign's deadline has passed.")


def fingerprint(slug: str, body: dict[str, Any]) -> str:
    """Identifies a request body, so one Idempotency-Key can't carry two different orders."""
    canonical = json.dumps({"slug": slug, "body": body}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def order_token(secret: str, order_id: UUID) -> str:
    return hmac.new(secret.encode(), order_id.bytes, hashlib.sha256).hexdigest()


def token_matches(secret: str, order_id: UUID, token: str) -> bool:
    return hmac.compare_digest(order_token(secret, order_id), token)
