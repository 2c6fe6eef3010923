"""Pure notification logic: formatting, template contexts, delivery ids. No I/O."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from dropwave_contracts.events import OrderConfirmed

# Fixed namespace: a delivery's id is derived from (source event, recipient, channel), so every
# retry of the same message carries the same id (and the same Message-ID / provider idempotency
# key), even when a crash lost the row of a previous attempt.
DELIVERY_NAMESPACE: Final = uuid.UUID("6f1c9a52-3d4e-4b8a-9c57-2f0e8d4b7a11")

# Stripe's currencies with a different number of minor units than 2.
_ZERO_DECIMAL: Final = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga"}
    | {"pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)
_THREE_DECIMAL: Final = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])
_SYMBOLS: Final = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥"}


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def delivery_id(source_event_id: uuid.UUID, recipient_kind: str, channel: str) -> uuid.UUID:
    """Deterministic id of the one message for (event, recipient, channel)."""
    return uuid.uuid5(DELIVERY_NAMESPACE, f"{source_event_id}/{recipient_kind}/{channel}")


def minor_units(currency: str) -> int:
    c = currency.lower()
    if c in _ZERO_DECIMAL:
        return 0
    if c in _THREE_DECIMAL:
        return 3
    return 2


def format_money(cents: int, currency: str) -> str:
    """``(1250, "eur")`` -> ``€12.50``; ``(500, "jpy")`` -> ``¥500``; else ``12.50 CHF``."""
    digits = minor_units(currency)
    amount = Decimal(cents).scaleb(-digits)
    number = f"{amount:,.{digits}f}"
    symbol = _SYMBOLS.get(currency.lower())
    if symbol is None:
        return f"{number} {currency.upper()}"
    return f"{symbol}{number}"


def format_deadline(moment: datetime) -> str:
    """A human-readable UTC time: ``Friday 14 March 2025, 18:00 UTC``."""
    if moment.tzinfo is None:
        raise ValueError("deadline must be timezone-aware")
    utc = moment.astimezone(UTC)
    return f"{utc:%A} {utc.day} {utc:%B %Y}, {utc:%H:%M} UTC"


def order_confirmed_context(event: OrderConfirmed) -> dict[str, Any]:
    """What the ``order_confirmed`` templates need; no contact data."""
    return {
        "buyer_number": event.buyer_number,
        "title": event.campaign_title,
        "amount": format_money(event.amount_cents, event.currency),
        "min_orders": event.campaign_min_orders,
        "deadline": format_deadline(event.campaign_deadline),
    }
