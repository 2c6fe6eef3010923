"""Orders' campaign snapshot follows campaigns' events: the creator and the deadline travel
from CampaignPublished onto OrderPlaced (payments routes the charge by it even before it has
seen the publish), and a new title (CampaignUpdated) reaches the orders' emails."""

import uuid
from datetime import UTC, datetime, timedelta

from dropwave_contracts.events import (
    CampaignCreated,
    CampaignFailed,
    CampaignPublished,
    CampaignUpdated,
    OrderConfirmed,
    OrderPlaced,
    PaymentAuthorized,
)
from dropwave_contracts.topics import parse_event
from dropwave_runtime.db import Database, outbox_table
from orders.handlers import (
    on_campaign_created,
    on_campaign_failed,
    on_campaign_published,
    on_campaign_updated,
    on_payment_authorized,
    place_orders,
)
from orders.models import CampaignSnapshot
from sqlalchemy import select

from .test_orders_intake import place_order


def publish_event() -> CampaignPublished:
    """A new campaign's CampaignPublished, as campaigns builds it."""
    campaign_id = uuid.uuid4()
    now = datetime.now(UTC)
    return CampaignPublished(
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


async def test_order_placed_carries_the_creator_from_the_published_campaign(
    db: Database,
) -> None:
    published = publish_event()
    campaign_id = published.campaign_id
    async with db.unit_of_work() as uow:
        await on_campaign_published(published, uow)
    async with db.unit_of_work() as uow:
        await place_orders([place_order()], uow, campaign_id=campaign_id)
    async with db.sessions() as session:
        snapshot = await session.get(CampaignSnapshot, campaign_id)
        events = [parse_event(p) for p in await session.scalars(select(outbox_table.c.payload))]
    assert snapshot is not None
    assert snapshot.creator_id == "user_creator_42"
    placed = [e for e in events if isinstance(e, OrderPlaced)]
    assert len(placed) == 1
    assert placed[0].creator_id == "user_creator_42"
    assert placed[0].campaign_deadline == published.deadline, "payments decides on card saving"


async def test_a_new_title_reaches_the_confirmation(db: Database) -> None:
    published = publish_event()
    campaign_id = published.campaign_id
    async with db.unit_of_work() as uow:
        await on_campaign_published(published, uow)
    async with db.unit_of_work() as uow:
        placed = await place_orders([place_order()], uow, campaign_id=campaign_id)
    renamed = CampaignUpdated.caused_by(
        published, producer="campaigns", campaign_id=campaign_id, title="Walnut organiser v2"
    )
    async with db.unit_of_work() as uow:
        await on_campaign_updated(renamed, uow)
    order = placed[0]
    assert not isinstance(order, Exception)
    authorized = PaymentAuthorized.caused_by(
        published,
        producer="payments",
        campaign_id=campaign_id,
        order_id=order.order.id,
        payment_intent_id="pi_1",
        amount_cents=2500,
        currency="eur",
        capture_before=None,
    )
    async with db.unit_of_work() as uow:
        await on_payment_authorized(authorized, uow)
    async with db.sessions() as session:
        events = [parse_event(p) for p in await session.scalars(select(outbox_table.c.payload))]
    confirmed = [e for e in events if isinstance(e, OrderConfirmed)]
    assert [e.campaign_title for e in confirmed] == ["Walnut organiser v2"]


async def test_a_draft_becomes_active_on_publish_and_a_replay_never_reopens(
    db: Database,
) -> None:
    campaign_id = uuid.uuid4()
    now = datetime.now(UTC)
    rules = {
        "campaign_id": campaign_id,
        "creator_id": "user_creator_42",
        "slug": f"drop-{campaign_id.hex[:12]}",
        "title": "Walnut desk organiser",
        "currency": "eur",
        "deadline": now + timedelta(days=3),
    }
    created = CampaignCreated(
        producer="campaigns", correlation_id="c", price_cents=2000, min_orders=5, **rules
    )
    published = CampaignPublished(
        producer="campaigns",
        correlation_id="c",
        price_cents=2500,  # the draft's rules changed before publishing
        min_orders=10,
        published_at=now,
        **rules,
    )

    async def snapshot() -> CampaignSnapshot:
        async with db.sessions() as session:
            row = await session.get(CampaignSnapshot, campaign_id)
        assert row is not None
        return row

    async with db.unit_of_work() as uow:
        await on_campaign_created(created, uow)
    assert (await snapshot()).status == "draft"
    async with db.unit_of_work() as uow:
        await on_campaign_published(published, uow)
    row = await snapshot()
    assert (row.status, row.price_cents, row.min_orders) == ("active", 2500, 10)
    async with db.unit_of_work() as uow:
        await on_campaign_failed(
            CampaignFailed.caused_by(
                published,
                producer="campaigns",
                campaign_id=campaign_id,
                confirmed_orders=0,
                min_orders=10,
                closed_at=now,
            ),
            uow,
        )
    async with db.unit_of_work() as uow:  # replays (e.g. from the dead-letter topic)
        await on_campaign_created(created, uow)
        await on_campaign_published(published, uow)
    assert (await snapshot()).status == "failed"
