"""HTTP request and response bodies (the public API v1)."""

import re
from typing import Annotated, Any
from uuid import UUID

import email_validator
from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    StringConstraints,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from .fulfilment.schemas import ShippingAddress, ShippingAddressView

# A plain ASCII address that email-validator accepts as it is (domain lowercased): common
# local-part characters, dot-separated; domain labels of letters, digits and single hyphens
# (no "--": IDNA's "xn--" labels need email-validator's checks), a letters-only TLD.
_PLAIN_EMAIL = re.compile(
    r"(?P<local>[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*)@"
    r"(?P<domain>(?:[A-Za-z0-9](?:-?[A-Za-z0-9])*\.)+(?P<tld>[A-Za-z]{2,63}))"
)
_SPECIAL_USE_TLDS = frozenset(email_validator.SPECIAL_USE_DOMAIN_NAMES)


def _plain_email_first(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """A plain address without email-validator (23 us each: 5 % of the orders processes'
    CPU in a rush; issue 15); anything else, and any doubt, through ``EmailStr`` itself."""
    if isinstance(value, str) and len(value) <= 254:
        match = _PLAIN_EMAIL.fullmatch(value)
        if (
            match is not None
            and len(match["local"]) <= 64
            and len(match["domain"]) <= 253
            and all(len(label) <= 63 for label in match["domain"].split("."))
            and match["tld"].lower() not in _SPECIAL_USE_TLDS
        ):
            return f"{match['local']}@{match['domain'].lower()}"
    return handler(value)


Email = Annotated[EmailStr, WrapValidator(_plain_email_first)]
"""``EmailStr``: the same schema, results and errors, with a fast path for plain addresses."""
Phone = Annotated[str, StringConstraints(pattern=r"^\+[1-9]\d{6,14}$")]
PaymentMethodId = Annotated[str, StringConstraints(pattern=r"^pm_[A-Za-z0-9_]{1,250}$")]
ShortCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    phone: Phone | None = None
    sms_consent: bool = False
    """The buyer agrees to SMS about this order (used only with a phone number)."""
    payment_method_id: PaymentMethodId | None = None
    referral_code: ShortCode | None = None
    source: ShortCode | None = None
    shipping_address: ShippingAddress | None = None
    """Required when the campaign ships physical goods (its `ship_to_countries`), to one of
    those countries; refused on a digital drop (422 `shipping_not_offered`)."""


class OrderView(BaseModel):
    id: UUID
    campaign_id: UUID
    buyer_number: int
    status: str
    amount_cents: int
    """What this buyer pays: the early-bird tier of their buyer number (fixed when the number
    was assigned), else the campaign's price; authorized now, captured if the drop happens."""
    currency: str
    client_secret: str | None = None
    failure_code: str | None = None
    decline_code: str | None = None
    cancel_reason: str | None = None
    """Why a cancelled order was cancelled: ``buyer_cancelled``, or ``not_authorized_in_time``
    (its authorization had not finished when the campaign's closing tally was taken)."""
    refunded_cents: int = 0
    """Refunded so far; the status reads ``refunded`` once it covers the amount."""
    shipping_address: ShippingAddressView | None = None
    """Where it ships (normalized by the country's rules); null on a digital drop. The buyer
    may change it until the deadline: `PUT /api/v1/orders/{id}/shipping-address`."""


class PlacedOrder(OrderView):
    order_token: str
