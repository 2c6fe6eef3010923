"""Amounts and times as people read them: ``€12.50``, ``Friday 14 March 2025, 18:00 UTC``.

Shared by what shows them to buyers and creators (notifications' messages, the
storefront's pages); on the wire, amounts stay integer minor units with a lowercase code
(Stripe's convention) and times aware datetimes.
"""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

__all__ = ["format_deadline", "format_money", "minor_units"]

# Stripe's currencies with a different number of minor units than 2.
_ZERO_DECIMAL: Final = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga"}
    | {"pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)
_THREE_DECIMAL: Final = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])
_SYMBOLS: Final = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥"}


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
