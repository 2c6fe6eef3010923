"""HTTP request and response bodies (the public API v1)."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from dropwave_runtime.inputs import PLAIN_LINE, PLAIN_TEXT, SLUG_PATTERN, utc_instant
from pydantic import (
    AfterValidator,
    AnyUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    UrlConstraints,
    WithJsonSchema,
    model_validator,
)

from .css import check_bounds
from .currencies import STRIPE_CURRENCIES, supported

MAX_IMAGES = 10
MAX_CSS_CHARS = 20_000
Status = Literal["draft", "active", "successful", "failed", "cancelled"]


def _no_html(value: str) -> str:
    if "<" in value or ">" in value:
        raise ValueError("must not contain HTML")
    return value


def _deadline(value: datetime) -> datetime:
    utc_instant(value)  # ValueError when out of range; the value is kept as sent
    return value


# Free text reaches emails and SMS (the title) or the public page: plain text only, see
# dropwave_runtime.inputs (no control characters, no bidi overrides; one line for a title).
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    PLAIN_LINE,
    AfterValidator(_no_html),
]
Description = Annotated[
    str, StringConstraints(max_length=5000), PLAIN_TEXT, AfterValidator(_no_html)
]
Reason = Annotated[str, StringConstraints(max_length=500), PLAIN_LINE, AfterValidator(_no_html)]
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, max_length=80)]
Currency = Annotated[
    str,
    AfterValidator(supported),
    WithJsonSchema({"type": "string", "enum": sorted(STRIPE_CURRENCIES)}),
]
"""A lowercase ISO code Stripe can charge in (campaigns/currencies.py)."""
Deadline = Annotated[AwareDatetime, AfterValidator(_deadline)]
"""With a time zone, between 2000-01-01 and 2100-01-01 UTC (later checks: in the future)."""
PriceCents = Annotated[int, Field(ge=100, le=1_000_000)]
MinOrders = Annotated[int, Field(ge=5, le=10_000)]
ImageUrl = Annotated[
    AnyUrl, UrlConstraints(max_length=2048, allowed_schemes=["https"], host_required=True)
]
"""An image: an absolute https URL (no http, data:, javascript:...)."""
Images = Annotated[list[ImageUrl], Field(max_length=MAX_IMAGES)]


class Theme(BaseModel):
    """Presentation of the public page. `custom_css` is sanitized and scoped on the way in
    (see `css.py`); what is stored and served is the sanitized text."""

    model_config = ConfigDict(extra="forbid")

    custom_css: (
        Annotated[str, StringConstraints(max_length=MAX_CSS_CHARS), AfterValidator(check_bounds)]
        | None
    ) = None
    accent_color: Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")] | None = None


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Description = ""
    price_cents: PriceCents
    currency: Currency = "usd"
    min_orders: MinOrders
    deadline: Deadline
    slug: Slug | None = None
    images: Images = Field(default_factory=list)
    theme: Theme | None = None


class CampaignUpdate(BaseModel):
    """A partial edit: only the fields sent change. Rules fields (`price_cents`, `currency`,
    `min_orders`, `deadline`) only while draft; `theme: null` clears the theme."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Description | None = None
    images: Images | None = None
    theme: Theme | None = None
    price_cents: PriceCents | None = None
    currency: Currency | None = None
    min_orders: MinOrders | None = None
    deadline: Deadline | None = None

    @model_validator(mode="after")
    def _no_null_fields(self) -> "CampaignUpdate":
        nulls = [f for f in self.model_fields_set if f != "theme" and getattr(self, f) is None]
        if nulls:
            raise ValueError(f"{', '.join(sorted(nulls))} cannot be null")
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields sent, with images as strings and the theme as a plain dict."""
        out: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if name == "images":
                value = [str(u) for u in value]
            elif name == "theme":
                value = value.model_dump() if value is not None else None
            out[name] = value
        return out


class CampaignCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason | None = None


class ThemeView(BaseModel):
    custom_css: str | None = None
    accent_color: str | None = None


class CampaignView(BaseModel):
    id: UUID
    slug: str
    title: str
    description: str
    price_cents: int
    currency: str
    min_orders: int
    current_orders: int
    deadline: datetime
    status: str
    images: list[str]
    theme: ThemeView
    tipped_at: datetime | None
    published_at: datetime | None
    cancelled_at: datetime | None
    closed_at: datetime | None
    # Analytics, filled on the public view from the activity feature (activity/store.py).
    views: int = 0
    shares: int = 0
    conversion_rate: float | None = None
    """Confirmed orders per view; null before the first view."""


class CampaignPage(BaseModel):
    """One page of a listing; pass `next_cursor` as `cursor` for the next (null: the end)."""

    items: list[CampaignView]
    next_cursor: str | None
