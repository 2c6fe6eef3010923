"""HTTP request and response bodies (the public API v1)."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from dropwave_runtime.countries import CountryCode
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


MAX_TIERS = 10
MAX_STRETCH_GOALS = 10
MAX_BUYER_NUMBER = 1_000_000


class PriceTier(BaseModel):
    """Buyers numbered up to `up_to_buyer` (after the previous tier) pay `price_cents`;
    buyers after the last tier pay the campaign's `price_cents`."""

    model_config = ConfigDict(extra="forbid")

    up_to_buyer: Annotated[int, Field(ge=1, le=MAX_BUYER_NUMBER)]
    price_cents: PriceCents


class StretchGoal(BaseModel):
    """At `orders` confirmed orders (above the minimum), `message` comes true."""

    model_config = ConfigDict(extra="forbid")

    orders: Annotated[int, Field(ge=6, le=MAX_BUYER_NUMBER)]
    message: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
        PLAIN_LINE,
        AfterValidator(_no_html),
    ]


PriceTiers = Annotated[list[PriceTier], Field(max_length=MAX_TIERS)]
"""Increasing `up_to_buyer` (422 `tiers_not_increasing`); prices as `price_cents`."""
StretchGoals = Annotated[list[StretchGoal], Field(max_length=MAX_STRETCH_GOALS)]
"""Increasing `orders`, each above `min_orders` (422 `stretch_goals_not_increasing`,
`stretch_goal_not_above_minimum`)."""


def _distinct(codes: list[str]) -> list[str]:
    return list(dict.fromkeys(codes))


ShipToCountries = Annotated[list[CountryCode], Field(max_length=300), AfterValidator(_distinct)]
"""Where a campaign ships its physical goods: upper-case ISO 3166-1 alpha-2 codes with
address rules (``dropwave_runtime.countries``); empty: a digital drop."""


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
    price_tiers: PriceTiers = Field(default_factory=list)
    stretch_goals: StretchGoals = Field(default_factory=list)
    ship_to_countries: ShipToCountries = Field(default_factory=list)
    """Physical goods shipped to these countries: every order then needs a shipping address
    in one of them. Empty (the default): a digital drop, no address is asked for."""


class CampaignUpdate(BaseModel):
    """A partial edit: only the fields sent change. Rules fields (`price_cents`, `currency`,
    `min_orders`, `deadline`, `price_tiers`, `stretch_goals`, `ship_to_countries`) only while
    draft; `theme: null` clears the theme."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Description | None = None
    images: Images | None = None
    theme: Theme | None = None
    price_cents: PriceCents | None = None
    currency: Currency | None = None
    min_orders: MinOrders | None = None
    deadline: Deadline | None = None
    price_tiers: PriceTiers | None = None
    stretch_goals: StretchGoals | None = None
    ship_to_countries: ShipToCountries | None = None

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
            elif name in ("price_tiers", "stretch_goals"):
                value = [item.model_dump() for item in value]
            out[name] = value
        return out


class CampaignCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason | None = None


class ThemeView(BaseModel):
    custom_css: str | None = None
    accent_color: str | None = None


class PriceTierView(BaseModel):
    up_to_buyer: int
    price_cents: int


class StretchGoalView(BaseModel):
    orders: int
    message: str
    reached: bool = False


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
    ship_to_countries: list[str] = Field(default_factory=list)
    """Where the goods ship; empty: a digital drop (orders take no address)."""
    tipped_at: datetime | None
    published_at: datetime | None
    cancelled_at: datetime | None
    closed_at: datetime | None
    price_tiers: list[PriceTierView] = Field(default_factory=list)
    """Early-bird tiers by buyer number; after the last, `price_cents`."""
    current_price_cents: int = 0
    """What the next buyer pays (the tier after the highest buyer number confirmed so far;
    an order's answer states the price fixed for its own buyer number)."""
    current_price_until_buyer: int | None = None
    """The last buyer number at the current price; null: no tier ahead."""
    next_price_cents: int | None = None
    """The price after that buyer number; null: no tier ahead."""
    stretch_goals: list[StretchGoalView] = Field(default_factory=list)
    """Thresholds above the minimum, each `reached` once confirmed orders got there."""
    # Analytics, filled on the public view from the activity feature (activity/store.py).
    views: int = 0
    shares: int = 0
    conversion_rate: float | None = None
    """Confirmed orders per view; null before the first view."""


class CampaignPage(BaseModel):
    """One page of a listing; pass `next_cursor` as `cursor` for the next (null: the end)."""

    items: list[CampaignView]
    next_cursor: str | None
