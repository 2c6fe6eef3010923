"""Pay-later rules (pure: no I/O): the grace period and its reminders, and the signed,
expiring tokens of the buyer's pay-later link.

A token is ``<expiry>.<signature>``: ``expiry`` the end of the pay-later grace period in
Unix seconds, ``signature`` the unpadded base64url HMAC-SHA256, keyed by ``PAY_LINK_SECRET``,
of the order id and that expiry. Nothing is stored: the token proves that payments offered
this order a link until then. It is a bearer credential for reading the link's
``client_secret``: never log it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Final

from ..domain import PaymentStatus

EXPIRED_CODE: Final = "pay_later_expired"
"""``PaymentCaptureFailed.failure_code`` of a link not paid within the grace period."""
PAID_STATUSES: Final = frozenset({PaymentStatus.CAPTURED.value, PaymentStatus.REFUNDED.value})


def pay_later_until(now: datetime, grace_s: float) -> datetime:
    return now + timedelta(seconds=grace_s)


def next_reminder_at(now: datetime, until: datetime, every_s: float) -> datetime:
    """The next reminder: ``every_s`` from now, but never after the grace period's end."""
    return min(now + timedelta(seconds=every_s), until)


_DOMAIN = b"dropwave/pay-later/v1\x00"
"""Keeps these signatures apart from any other use of the secret."""
_TOKEN = re.compile(r"(0|[1-9][0-9]{0,11})\.([A-Za-z0-9_-]{43})")
"""An expiry of at most 12 digits (no leading zero: one spelling per expiry) and the 43
characters of a 32-byte unpadded base64url."""


def expiry_of(until: datetime) -> int:
    """The expiry a token carries for a grace period ending at ``until`` (whole seconds, not
    after it)."""
    return int(until.timestamp())


def _signature(secret: str, order_id: uuid.UUID, expiry: int) -> str:
    message = _DOMAIN + order_id.bytes + str(expiry).encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_pay_token(secret: str, order_id: uuid.UUID, until: datetime) -> str:
    """The token of ``order_id``'s pay-later link, valid until ``until``."""
    expiry = expiry_of(until)
    return f"{expiry}.{_signature(secret, order_id, expiry)}"


def verify_pay_token(
    secret: str, order_id: uuid.UUID, token: str | None, now: datetime
) -> datetime | None:
    """The token's expiry if it is ours, for this order and not expired at ``now``; else
    ``None`` (missing, malformed, forged, another order's, expired: the caller cannot tell
    which, and need not). The signatures are compared in constant time."""
    if not token:
        return None
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    expiry = int(match.group(1))
    expected = _signature(secret, order_id, expiry)
    if not hmac.compare_digest(expected, match.group(2)):
        return None
    if now.timestamp() >= expiry:
        return None
    return datetime.fromtimestamp(expiry, UTC)


def pay_token(secret: str | None, order_id: uuid.UUID, until: datetime | None) -> str | None:
    """The pay-later link's token, if a link is offered and a secret configured."""
    if until is None or not secret:
        return None
    return sign_pay_token(secret, order_id, until)
