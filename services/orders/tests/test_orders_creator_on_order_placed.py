"""The campaign's creator travels from CampaignPublished, through orders' snapshot, onto
OrderPlaced: payments routes the charge by it even before it has seen the publish."""

import uuid
from datetime import UTC, datetime, timedelta

from dropwave_contracts.events import CampaignPublished, OrderPlaced
from dropwave_contracts.topics import parse_event
from dropwave_runtime.db import Database, outbox_table
from orders import domain
from orders.handlers import OrderRequest, on_campaign_published, place_orders
from orders.models import CampaignSnapshot
from orders.schemas import OrderCreate
from sqlalchemy import select


async def test_order_placed_carries_the_creator_from_the_published_campaign(
    db: Database,
) -> None:
    campaign_id = uuid.uuid4()
    now = datetime.now(UTC)
    published = CampaignPublished(
        producer="campaigns",
        correlation_id="corr",
        campaign_id=campaign_id,
        creator_id="user_creator_42",
        slug=f"drop-{campaign_id.hex[:12]}",
        title="Walnut desk organiser",
        price_cents=2500,
        currency="eur",
        min_orders=5,
        deadline=now + timedelta(days=3),
        published_at=now,
    )
    async with db.unit_of_work() as uow:
        await on_campaign_published(published, uow)
    body = OrderCreate(email="buyer@example.com", payment_method_id="pm_card_visa")
    async with db.unit_of_work() as uow:
        await place_orders(
            uow,
            campaign_id,
            [
                OrderRequest(
                    key=str(uuid.uuid4()),
                    fingerprint=domain.fingerprint("s", body.model_dump(mode="json")),
                    body=body,
                    correlation_id="corr-order",
                    trace_headers={},
                )
            ],
        )
    async with db.sessions() as session:
        snapshot = await session.get(CampaignSnapshot, campaign_id)
        events = [parse_event(p) for p in await session.scalars(select(outbox_table.c.payload))]
    assert snapshot is not None
    assert snapshot.creator_id == "user_creator_42"
    placed = [e for e in events if isinstance(e, OrderPlaced)]
    assert len(placed) == 1
    assert placed[0].creator_id == "user_creator_42"
