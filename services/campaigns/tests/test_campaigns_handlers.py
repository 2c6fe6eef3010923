"""Campaign commands and event reactions on a real, migrated PostgreSQL database."""

import asyncio
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from campaigns import handlers
from campaigns.commands import CancelCampaign, CreateCampaign, EditCampaign, PublishCampaign
from campaigns.css import CONTAINMENT
from campaigns.models import Campaign
from campaigns.schemas import CampaignUpdate
from dropwave_contracts.envelope import Event
from dropwave_contracts.events import (
    CampaignCancelled,
    CampaignCreated,
    CampaignMilestoneReached,
    CampaignPublished,
    CampaignTipped,
    CampaignUpdated,
    OrderCancelled,
    OrderConfirmed,
)
from dropwave_contracts.topics import parse_event, serialize, topic_for
from dropwave_runtime.consumer import EventConsumer, Record
from dropwave_runtime.db import Database, outbox_table
from dropwave_runtime.errors import Conflict, Invalid, NotAllowed, NotFound
from sqlalchemy import select


def new(creator: str = "alice", **overrides: Any) -> CreateCampaign:
    fields: dict[str, Any] = {
        "title": "Walnut desk organiser",
        "price_cents": 2500,
        "currency": "usd",
        "min_orders": 8,
        "deadline": datetime.now(UTC) + timedelta(days=3),
    }
    fields.update(overrides)
    return CreateCampaign(creator_id=creator, **fields)


async def create(db: Database, creator: str = "alice", **overrides: Any) -> Campaign:
    async with db.unit_of_work() as uow:
        return await handlers.create_campaign(
            new(creator, **overrides), uow, now=datetime.now(UTC), min_duration_s=60
        )


async def publish(db: Database, campaign_id: uuid.UUID) -> Campaign:
    async with db.unit_of_work() as uow:
        return await handlers.publish_campaign(
            PublishCampaign(campaign_id, "alice"), uow, now=datetime.now(UTC), min_duration_s=0
        )


def order_confirmed(campaign: Campaign, n: int, at: datetime | None = None) -> OrderConfirmed:
    """Buyer #n's confirmation, as orders builds it."""
    return OrderConfirmed(
        producer="orders",
        correlation_id="c",
        occurred_at=at or datetime.now(UTC),
        campaign_id=campaign.id,
        order_id=uuid.uuid4(),
        buyer_number=n,
        amount_cents=campaign.price_cents,
        currency=campaign.currency,
        buyer_email="buyer@example.com",
        buyer_phone=None,
        campaign_title=campaign.title,
        campaign_min_orders=campaign.min_orders,
        campaign_deadline=campaign.deadline,
    )


def cancelled_after(confirmed: OrderConfirmed) -> OrderCancelled:
    """The buyer of a confirmed order cancels it."""
    return OrderCancelled(
        producer="orders",
        correlation_id="c",
        campaign_id=confirmed.campaign_id,
        order_id=confirmed.order_id,
        buyer_number=confirmed.buyer_number,
        reason="buyer",
        was_confirmed=True,
    )


async def load(db: Database, campaign_id: uuid.UUID) -> Campaign:
    async with db.sessions() as s:
        row = await s.get(Campaign, campaign_id)
    assert row is not None
    return row


async def outbox(db: Database) -> list[Event]:
    async with db.sessions() as s:
        rows = (await s.execute(select(outbox_table.c.payload).order_by(outbox_table.c.id))).all()
    return [parse_event(r.payload) for r in rows]


async def test_create_sanitizes_theme_and_keeps_images(db: Database) -> None:
    campaign = await create(
        db,
        images=["https://img.example.com/a.jpg"],
        theme={"custom_css": "body { color: red } p { width: expression(alert(1)) }"},
    )
    row = await load(db, campaign.id)
    assert row.status == "draft"
    assert row.images == ["https://img.example.com/a.jpg"]
    assert row.theme == {"custom_css": f"{CONTAINMENT}\n.user-content {{ color: red }}"}
    [created] = await outbox(db)  # orders learns the draft's slug (409 on orders)
    assert isinstance(created, CampaignCreated)
    assert (created.campaign_id, created.slug, created.creator_id) == (
        campaign.id,
        row.slug,
        "alice",
    )


async def test_same_title_concurrently_gets_unique_slugs(db: Database) -> None:
    results = await asyncio.gather(*(create(db, f"creator-{i}") for i in range(8)))
    slugs = {c.slug for c in results}
    assert len(slugs) == 8
    assert "walnut-desk-organiser" in slugs
    with pytest.raises(Conflict) as exc:
        await create(db, slug="walnut-desk-organiser")
    assert exc.value.code == "slug_taken"


async def test_slugs_that_are_paths_of_the_site_are_never_a_drop(db: Database) -> None:
    """``/static``, ``/healthz``, ``/orders``…: the storefront and gateway use them."""
    with pytest.raises(Invalid) as exc:
        await create(db, slug="static")
    assert exc.value.code == "slug_reserved"
    titled = await create(db, title="Static")  # a generated slug just moves aside
    assert titled.slug.startswith("static-")
    assert titled.slug != "static"


async def test_deadline_too_soon_on_create_changes_nothing(db: Database) -> None:
    with pytest.raises(Invalid):
        await create(db, deadline=datetime.now(UTC) + timedelta(seconds=30))
    async with db.sessions() as s:
        assert (await s.scalars(select(Campaign))).all() == []


async def update(db: Database, campaign_id: uuid.UUID, **changes: Any) -> Campaign:
    edit = EditCampaign(campaign_id, "alice", CampaignUpdate.model_validate(changes).changes())
    async with db.unit_of_work() as uow:
        return await handlers.edit_campaign(edit, uow, now=datetime.now(UTC), min_duration_s=60)


async def test_rules_editable_while_draft_then_locked(db: Database) -> None:
    campaign = await create(db)
    later = datetime.now(UTC) + timedelta(days=5)
    await update(db, campaign.id, price_cents=3000, min_orders=10, deadline=later.isoformat())
    row = await load(db, campaign.id)
    assert (row.price_cents, row.min_orders, row.deadline) == (3000, 10, later)

    await publish(db, campaign.id)
    with pytest.raises(Conflict) as exc:
        await update(db, campaign.id, title="New title", price_cents=3500)
    assert exc.value.code == "rules_locked"
    row = await load(db, campaign.id)
    assert (row.title, row.price_cents) == ("Walnut desk organiser", 3000)  # nothing changed

    await update(db, campaign.id, title="New title", price_cents=3000, theme=None)
    assert (await load(db, campaign.id)).title == "New title"  # unchanged rules pass


async def test_a_changed_presentation_of_an_active_campaign_is_announced_whole(
    db: Database,
) -> None:
    """Publishing and every change of what the page shows (title, description, images,
    theme) carry the whole presentation, the CSS as sanitized; a draft's edits are not news."""
    theme = {"accent_color": "#1a5fb4", "custom_css": "h1 { color: red }"}
    campaign = await create(db, images=["https://img.example/a.jpg"], theme=theme)
    await update(db, campaign.id, title="Draft rename")  # a draft's title is not news
    assert not [e for e in await outbox(db) if isinstance(e, CampaignUpdated)]
    await publish(db, campaign.id)
    (published,) = [e for e in await outbox(db) if isinstance(e, CampaignPublished)]
    stored_css = (await load(db, campaign.id)).theme["custom_css"]
    assert ".user-content h1" in stored_css
    assert (published.description, published.images) == ("", ["https://img.example/a.jpg"])
    assert (published.theme_accent, published.custom_css) == ("#1a5fb4", stored_css)
    await update(db, campaign.id, description="Now in oak too")
    await update(db, campaign.id, title="Walnut desk organiser, second run")
    await update(db, campaign.id, theme=None)
    await update(db, campaign.id, images=["https://img.example/a.jpg"])  # unchanged: no news
    updates = [e for e in await outbox(db) if isinstance(e, CampaignUpdated)]
    assert [(e.title, e.description, e.theme_accent, e.custom_css) for e in updates] == [
        ("Draft rename", "Now in oak too", "#1a5fb4", stored_css),
        ("Walnut desk organiser, second run", "Now in oak too", "#1a5fb4", stored_css),
        ("Walnut desk organiser, second run", "Now in oak too", None, ""),
    ]
    assert {e.campaign_id for e in updates} == {campaign.id}


async def test_cancel_active_emits_cancelled_and_closed_campaigns_stay_closed(
    db: Database,
) -> None:
    draft = await create(db, slug="draft-one")
    active = await create(db, slug="active-one")
    await publish(db, active.id)
    for campaign in (draft, active):
        async with db.unit_of_work() as uow:
            command = CancelCampaign(campaign.id, "alice", "supplier fell through")
            await handlers.cancel_campaign(command, uow, now=datetime.now(UTC))
    events = [e for e in await outbox(db) if not isinstance(e, CampaignCreated)]
    assert [type(e) for e in events] == [CampaignPublished, CampaignCancelled]
    assert events[1].campaign_id == active.id  # a cancelled draft stays unpublished to others
    assert (await load(db, draft.id)).status == "cancelled"
    with pytest.raises(Conflict) as exc:
        async with db.unit_of_work() as uow:
            await handlers.cancel_campaign(
                CancelCampaign(active.id, "alice"), uow, now=datetime.now(UTC)
            )
    assert exc.value.code == "not_cancellable"
    with pytest.raises(Conflict) as exc:
        await update(db, active.id, title="Too late")
    assert exc.value.code == "campaign_closed"


async def test_owner_checks(db: Database) -> None:
    campaign = await create(db)
    with pytest.raises(NotAllowed) as refused:
        async with db.unit_of_work() as uow:
            await handlers.owned_campaign(uow, campaign.id, "mallory")
    assert refused.value.code == "not_owner"
    with pytest.raises(NotFound) as missing:
        async with db.unit_of_work() as uow:
            await handlers.owned_campaign(uow, uuid.uuid4(), "alice")
    assert missing.value.code == "campaign_not_found"


async def test_listing_is_paginated_and_own_only(db: Database) -> None:
    mine = [await create(db, slug=f"mine-{i}") for i in range(5)]
    await create(db, "bob", slug="bobs")
    seen: list[uuid.UUID] = []
    cursor = None
    async with db.sessions() as s:
        while True:
            page = await handlers.creator_campaigns(s, "alice", 2, cursor)
            seen += [c.id for c in page]
            if len(page) < 2:
                break
            cursor = (page[-1].created_at, page[-1].id)
    assert seen == [c.id for c in reversed(mine)]


class NoDeadLetters:
    async def dead_letter(
        self, topic: str, key: bytes | None, value: bytes, headers: Mapping[str, str]
    ) -> None:
        raise AssertionError(f"dead-lettered: {headers.get('dlq-error')}")


def record(event: Event, offset: int) -> Record:
    return Record(topic_for(event).name, 0, offset, event.key.encode(), serialize(event), [])


def counting_consumer(db: Database) -> EventConsumer:
    """Campaigns' counting of confirmations and cancels, behind the runtime's consumer."""
    return EventConsumer(
        "campaigns",
        db,
        {OrderConfirmed: handlers.on_order_confirmed, OrderCancelled: handlers.on_order_cancelled},
        NoDeadLetters(),
    )


@pytest.mark.timeout(60)
async def test_counter_equals_confirmed_minus_cancelled_through_the_inbox(db: Database) -> None:
    campaign = await create(db)  # min_orders 8
    await publish(db, campaign.id)
    consumer = counting_consumer(db)
    confirmed = [order_confirmed(campaign, n) for n in range(1, 21)]
    cancelled = [
        OrderCancelled(
            producer="orders",
            correlation_id="c",
            campaign_id=campaign.id,
            order_id=e.order_id,
            buyer_number=e.buyer_number,
            reason="buyer",
            was_confirmed=True,
        )
        for e in confirmed[:3]
    ] + [
        OrderCancelled(
            producer="orders",
            correlation_id="c",
            campaign_id=campaign.id,
            order_id=uuid.uuid4(),
            buyer_number=99,
            reason="payment_failed",
            was_confirmed=False,
        )
    ]
    # Every event delivered twice (at-least-once), all at once.
    deliveries = [record(e, i) for i, e in enumerate(confirmed)] * 2
    await asyncio.gather(*(consumer.handle(r) for r in deliveries))
    await asyncio.gather(
        *(consumer.handle(record(e, 100 + i)) for i, e in enumerate(cancelled * 2))
    )

    row = await load(db, campaign.id)
    assert row.current_orders == 20 - 3
    assert row.tipped_at is not None
    events = await outbox(db)
    milestones = [e.percent for e in events if isinstance(e, CampaignMilestoneReached)]
    assert sorted(milestones) == [25, 50, 75, 100]
    assert sum(isinstance(e, CampaignTipped) for e in events) == 1

    # Dropping below the minimum and crossing it again announces nothing new.
    for e in confirmed[3:15]:
        await consumer.handle(record(cancelled_after(e), 500))
    assert (await load(db, campaign.id)).current_orders == 5
    again = confirmed[0].model_copy(update={"event_id": uuid.uuid4()})
    for _ in range(4):
        await consumer.handle(record(again.model_copy(update={"event_id": uuid.uuid4()}), 600))
    assert (await load(db, campaign.id)).current_orders == 9
    assert len(await outbox(db)) == len(events)


async def test_the_tipping_time_covers_every_confirmation_counted(db: Database) -> None:
    """Confirmations of different orders are handled concurrently: the one that tips may be
    older than one counted before it. Notifications tells the buyers confirmed by
    `tipped_at` that it tipped, so it must not be earlier than any counted confirmation."""
    campaign = await create(db, min_orders=5)
    await publish(db, campaign.id)
    start = datetime.now(UTC)
    times = [start + timedelta(seconds=s) for s in (1, 2, 3, 9, 4)]  # #4 counted before #5
    for n, at in enumerate(times, start=1):
        async with db.unit_of_work() as uow:
            await handlers.on_order_confirmed(order_confirmed(campaign, n, at), uow)
    [tipped] = [e for e in await outbox(db) if isinstance(e, CampaignTipped)]
    assert tipped.tipped_at == max(times)
    assert (await load(db, campaign.id)).tipped_at == max(times)
