"""The read model from events, through the runtime's consumer (inbox: a redelivered event
has no second effect), on a real, migrated PostgreSQL."""

import asyncio
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dropwave_contracts.envelope import Event
from dropwave_contracts.events import (
    CampaignCancelled,
    CampaignFailed,
    CampaignPublished,
    CampaignSucceeded,
    CampaignTipped,
    CampaignUpdated,
    OrderCancelled,
    OrderConfirmed,
)
from dropwave_contracts.topics import serialize, topic_for
from dropwave_runtime.consumer import EventConsumer, Record
from dropwave_runtime.db import Database
from dropwave_runtime.listen import listen
from sqlalchemy import select
from storefront.bootstrap import SERVICE
from storefront.cache import CHANNEL
from storefront.models import CampaignPage

from tests.factories import event


class FailOnDeadLetter:
    async def dead_letter(
        self, topic: str, key: bytes | None, value: bytes, headers: Mapping[str, str]
    ) -> None:
        raise AssertionError(f"dead-lettered: {headers.get('dlq-error')}")


class Feed:
    """The storefront's handlers behind the runtime's consumer, fed one message at a time."""

    def __init__(self, db: Database) -> None:
        self.consumer = EventConsumer("storefront", db, dict(SERVICE.events), FailOnDeadLetter())
        self.offset = 0

    async def deliver(self, *events: Event) -> None:
        for e in events:
            self.offset += 1
            value = serialize(e)
            await self.consumer.handle(
                Record(topic_for(e).name, 0, self.offset, e.key.encode(), value, [])
            )


def published(campaign_id: uuid.UUID, **fields: Any) -> CampaignPublished:
    values: dict[str, Any] = {
        "campaign_id": campaign_id,
        "slug": f"oak-stand-{campaign_id.hex[:8]}",
        "title": "Oak phone stand",
        "price_cents": 1500,
        "min_orders": 5,
        "deadline": datetime.now(UTC) + timedelta(days=2),
        "description": "Solid oak.",
        "images": ["https://img.example/oak.jpg"],
        "theme_accent": "#1a5fb4",
        "custom_css": ".user-content h1 { color: #1a5fb4 }",
    }
    return event(CampaignPublished, **(values | fields))


def confirmed(campaign_id: uuid.UUID, order_id: uuid.UUID | None = None) -> OrderConfirmed:
    return event(OrderConfirmed, campaign_id=campaign_id, order_id=order_id or uuid.uuid4())


async def row(db: Database, campaign_id: uuid.UUID) -> CampaignPage:
    async with db.sessions() as session:
        page = await session.get(CampaignPage, campaign_id)
    assert page is not None
    return page


async def test_publish_update_and_counts_make_the_page(db: Database) -> None:
    feed, cid = Feed(db), uuid.uuid4()
    first = published(cid)
    await feed.deliver(first)
    page = await row(db, cid)
    assert (page.slug, page.status, page.joined) == (first.slug, "active", 0)
    assert (page.description, page.images, page.theme_accent) == (
        "Solid oak.",
        ["https://img.example/oak.jpg"],
        "#1a5fb4",
    )
    a, b = confirmed(cid), confirmed(cid)
    await feed.deliver(a, b, a)  # a redelivered: counted once
    assert (await row(db, cid)).joined == 2
    cancel = event(
        OrderCancelled, campaign_id=cid, order_id=a.order_id, was_confirmed=True, reason=None
    )
    never = event(OrderCancelled, campaign_id=cid, was_confirmed=False, reason=None)
    await feed.deliver(cancel, cancel, never)
    assert (await row(db, cid)).joined == 1

    update = event(
        CampaignUpdated,
        campaign_id=cid,
        title="Oak stand, second run",
        description="",
        images=[],
        theme_accent=None,
        custom_css="",
    )
    old_update = event(CampaignUpdated, campaign_id=cid, title="Oak stand, third run")
    await feed.deliver(update)
    page = await row(db, cid)
    assert (page.title, page.description, page.images, page.theme_accent, page.custom_css) == (
        "Oak stand, second run",
        "",
        [],
        None,
        "",
    )
    await feed.deliver(old_update)  # an older producer's: the title only, the rest stays
    page = await row(db, cid)
    assert (page.title, page.description, page.theme_accent) == ("Oak stand, third run", "", None)


async def test_an_order_read_before_its_campaign_is_published_still_counts(db: Database) -> None:
    feed, cid = Feed(db), uuid.uuid4()
    await feed.deliver(confirmed(cid), confirmed(cid))
    early = await row(db, cid)
    assert (early.slug, early.status, early.joined) == (None, None, 2)
    await feed.deliver(published(cid))
    page = await row(db, cid)
    assert (page.status, page.joined) == ("active", 2)


async def test_the_outcome_sets_the_closing_tally_and_freezes_the_count(db: Database) -> None:
    feed, won, lost, gone = Feed(db), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await feed.deliver(published(won), published(lost), published(gone))
    await feed.deliver(*(confirmed(won) for _ in range(6)), confirmed(lost))
    tipped_at = datetime.now(UTC)
    await feed.deliver(event(CampaignTipped, campaign_id=won, tipped_at=tipped_at))
    closed = datetime.now(UTC)
    await feed.deliver(
        event(CampaignSucceeded, campaign_id=won, confirmed_orders=5, closed_at=closed),
        event(CampaignFailed, campaign_id=lost, confirmed_orders=1, closed_at=closed),
        event(CampaignCancelled, campaign_id=gone, reason=None, cancelled_at=closed),
    )
    await feed.deliver(confirmed(won), confirmed(lost))  # late: the tally already decided
    assert [(p.status, p.joined) for p in [await row(db, c) for c in (won, lost, gone)]] == [
        ("successful", 5),
        ("failed", 1),
        ("cancelled", 0),
    ]
    assert (await row(db, won)).tipped_at == tipped_at


@pytest.mark.timeout(30)
async def test_a_change_notifies_the_pages_slug(db: Database) -> None:
    """Every instance's cache listens: the handler's NOTIFY carries the slug, on commit."""
    heard: list[str] = []
    listening = asyncio.Event()
    task = asyncio.create_task(listen(db, CHANNEL, heard.append, on_connect=listening.set))
    try:
        await asyncio.wait_for(listening.wait(), 10)
        feed, cid = Feed(db), uuid.uuid4()
        first = published(cid)
        await feed.deliver(confirmed(cid), first, confirmed(cid))
        for _ in range(100):
            if len(heard) >= 2:
                break
            await asyncio.sleep(0.05)
        assert heard == [first.slug, first.slug]  # the early order had no page to drop
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    async with db.sessions() as session:
        assert (
            await session.scalar(select(CampaignPage.joined).where(CampaignPage.slug == first.slug))
            == 2
        )
