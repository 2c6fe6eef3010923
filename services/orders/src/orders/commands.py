"""What a buyer asks of orders, as the routes hand it to the handlers (no HTTP in it)."""

from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """One buyer's order on the campaign of the intake lane it is queued on, with the
    request's context captured at the door (the intake places it from another task)."""

    idempotency_key: str
    fingerprint: str
    """Identifies the request (``domain.fingerprint``): the same key with another request is
    refused, with the same request it is a replay."""
    email: str
    phone: str | None
    sms_consent: bool
    payment_method_id: str | None
    referral_code: str | None
    source: str | None
    correlation_id: str
    trace_headers: dict[str, str]
    client_ip: str | None = None
    """Where the request came from: kept on the order so a later card decline counts
    against that address too (``abuse.py``)."""
    shipping: Mapping[str, str] | None = None
    """The shipping address as sent (checked against the campaign's countries when placed)."""


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """The buyer cancels an order (the route has checked the order token)."""

    order_id: UUID
    correlation_id: str | None = None
