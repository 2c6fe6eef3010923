"""Orders test fixtures: a freshly migrated database per test and a campaign snapshot in it."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from dropwave_runtime.db import Database
from orders.models import CampaignSnapshot

MakeCampaign = Callable[..., Awaitable[uuid.UUID]]
AUTH = {
    "auth_jwks_url": "https://issuer.example/jwks.json",
    "auth_issuer": "https://issuer.example/",
    "auth_audience": "dropwave",
}
"""Creator auth settings for an in-process app (tests override the creator dependency)."""


@pytest.fixture
def make_campaign(db: Database) -> MakeCampaign:
    """`await make_campaign(status="active", deadline=..., price_tiers=[...], ship_to=["US"],
    creator_id=...)`:
    a snapshot as events leave it."""

    async def make(
        status: str = "active",
        deadline: datetime | None = None,
        *,
        price_tiers: list[dict[str, int]] | None = None,
        ship_to: list[str] | None = None,
        creator_id: str | None = None,
        closed_at: datetime | None = None,
    ) -> uuid.UUID:
        campaign_id = uuid.uuid4()
        async with db.unit_of_work() as uow:
            uow.session.add(
                CampaignSnapshot(
                    id=campaign_id,
                    slug=f"drop-{campaign_id.hex[:12]}",
                    title="Walnut desk organiser",
                    price_cents=2500,
                    currency="usd",
                    min_orders=5,
                    deadline=deadline or datetime.now(UTC) + timedelta(days=3),
                    status=status,
                    last_buyer_number=0,
                    price_tiers=price_tiers or [],
                    ship_to_countries=ship_to or [],
                    creator_id=creator_id,
                    closed_at=closed_at,
                )
            )
        return campaign_id

    return make
