"""What buyers and creators ask of fulfilment (no HTTP in them)."""

from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True, slots=True)
class ChangeShipping:
    """The buyer replaces the order's shipping address (the route checked the order token)."""

    order_id: UUID
    address: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ListOrders:
    """A page of a campaign's orders for its creator, by buyer number after ``after``."""

    campaign: str
    """The campaign's id or slug."""
    creator_id: str
    status: str | None = None
    after: int = 0
    limit: int = 100
