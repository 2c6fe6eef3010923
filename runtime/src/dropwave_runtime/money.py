"""Money as people read it: integer minor units (Stripe's convention) to ``€12.50``.

Shared by what shows amounts to buyers and creators (notifications' messages, the
storefront's pages); amounts on the wire stay integer minor units with a lowercase code.
"""

from decimal import Decimal
from typing import Final

__all__ = ["format_money", "minor_units"]

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
