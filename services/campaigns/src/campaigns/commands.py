"""What a creator asks of campaigns: plain commands, built by the routes from HTTP bodies
and handled in ``handlers`` (which never see a request body)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class CreateCampaign:
    """A new draft; without ``slug``, one is made from the title."""

    creator_id: str
    title: str
    price_cents: int
    currency: str
    min_orders: int
    deadline: datetime
    description: str = ""
    slug: str | None = None
    images: Sequence[str] = ()
    theme: Mapping[str, Any] | None = None
    ship_to_countries: Sequence[str] = ()
    """Where the goods ship; empty: a digital drop (no address asked of buyers)."""
    creator_email: str | None = None
    """The token's email claim, when it carries one."""
    price_tiers: Sequence[Mapping[str, int]] = ()
    """Early-bird tiers, ``{"up_to_buyer", "price_cents"}`` each."""
    stretch_goals: Sequence[Mapping[str, Any]] = ()
    """Stretch goals, ``{"orders", "message"}`` each."""


@dataclass(frozen=True)
class EditCampaign:
    """A partial edit: only the fields in ``changes`` (``theme: None`` clears the theme)."""

    campaign_id: UUID
    creator_id: str
    changes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PublishCampaign:
    campaign_id: UUID
    creator_id: str
    creator_email: str | None = None


@dataclass(frozen=True)
class CancelCampaign:
    campaign_id: UUID
    creator_id: str
    reason: str | None = None
