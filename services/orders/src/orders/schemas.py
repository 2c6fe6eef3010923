"""HTTP request and response bodies (the public API v1)."""

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, StringConstraints

Phone = Annotated[str, StringConstraints(pattern=r"^\+[1-9]\d{6,14}$")]
PaymentMethodId = Annotated[str, StringConstraints(pattern=r"^pm_[A-Za-z0-9_]{1,250}$")]
ShortCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    phone: Phone | None = None
    sms_consent: bool = False
    """The buyer agrees to SMS about this order (used only with a phone number)."""
    payment_method_id: PaymentMethodId | None = None
    referral_code: ShortCode | None = None
    source: ShortCode | None = None


class OrderView(BaseModel):
    id: UUID
    campaign_id: UUID
    buyer_number: int
    status: str
    amount_cents: int
    currency: str
    client_secret: str | None = None
    failure_code: str | None = None
    decline_code: str | None = None
    cancel_reason: str | None = None
    """Why a cancelled order was cancelled: ``buyer_cancelled``, or ``not_authorized_in_time``
    (its authorization had not finished when the campaign's closing tally was taken)."""
    refunded_cents: int = 0
    """Refunded so far; the status reads ``refunded`` once it covers the amount."""


class PlacedOrder(OrderView):
    order_token: str
