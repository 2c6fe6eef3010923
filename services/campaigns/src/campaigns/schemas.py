"""HTTP request and response bodies (the public API v1)."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints


def _no_html(value: str) -> str:
    if "<" in value or ">" in value:
        raise ValueError("must not contain HTML")
    return value


Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_no_html),
]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=80)]


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Annotated[str, StringConstraints(max_length=5000), AfterValidator(_no_html)] = ""
    price_cents: int = Field(ge=100, le=1_000_000)
    currency: Annotated[str, StringConstraints(pattern=r"^[a-z]{3}$")] = "usd"
    min_orders: int = Field(ge=5, le=10_000)
    deadline: AwareDatetime
    slug: Slug | None = None


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
    tipped_at: datetime | None
    published_at: datetime | None
