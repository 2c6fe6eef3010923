"""Orders test fixtures: a freshly migrated database per test and a campaign snapshot in it."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from dropwave_runtime.db import Database
from orders.models import CampaignSnapshot

MakeCampaign = Callable[..., Awaitable[uuid.UUID]]


@pytest.fixture
def make_campaign(db: Database) -> MakeCampaign:
    """`await make_campaign(status="active", deadline=...)`: a snapshot as events leave it."""

    async def make(status: str = "active", deadline: datetime | None = None) -> uuid.UUID:
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
                )
            )
        return campaign_id

    return make
