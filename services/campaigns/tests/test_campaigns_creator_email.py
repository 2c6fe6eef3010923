"""The creator's email (the token's `email` claim) is kept on the creator and travels on
CampaignPublished, so notifications can write to the creator: handlers on a real, migrated
PostgreSQL."""

from datetime import UTC, datetime, timedelta

from campaigns import handlers
from campaigns.commands import CreateCampaign, PublishCampaign
from campaigns.models import Creator
from dropwave_contracts.events import CampaignPublished
from dropwave_contracts.topics import parse_event
from dropwave_runtime.db import Database, outbox_table
from sqlalchemy import select


async def launch(
    db: Database, creator: str, created_with: str | None, published_with: str | None
) -> CampaignPublished:
    """Create a draft with one token's claim, publish it with another's; the event."""
    create = CreateCampaign(
        creator_id=creator,
        title="Walnut desk organiser",
        price_cents=2500,
        currency="usd",
        min_orders=8,
        deadline=datetime.now(UTC) + timedelta(days=3),
        creator_email=created_with,
    )
    async with db.unit_of_work() as uow:
        draft = await handlers.create_campaign(
            create, uow, now=datetime.now(UTC), min_duration_s=60
        )
    async with db.unit_of_work() as uow:
        await handlers.publish_campaign(
            PublishCampaign(draft.id, creator, published_with),
            uow,
            now=datetime.now(UTC),
            min_duration_s=0,
        )
    async with db.sessions() as s:
        payloads = (await s.execute(select(outbox_table.c.payload))).scalars().all()
    [event] = [
        e
        for e in map(parse_event, payloads)
        if isinstance(e, CampaignPublished) and e.campaign_id == draft.id
    ]
    return event


async def stored_email(db: Database, creator: str) -> str | None:
    async with db.sessions() as s:
        return await s.scalar(select(Creator.email).where(Creator.id == creator))


async def test_the_claim_is_stored_and_published(db: Database) -> None:
    event = await launch(db, "alice", "alice@shop.example", "alice@shop.example")
    assert event.creator_email == "alice@shop.example"
    assert await stored_email(db, "alice") == "alice@shop.example"


async def test_a_changed_claim_replaces_the_address_and_a_missing_one_keeps_it(
    db: Database,
) -> None:
    first = await launch(db, "bob", "bob@old.example", "bob@new.example")
    assert first.creator_email == "bob@new.example"  # the publishing token's claim wins
    assert await stored_email(db, "bob") == "bob@new.example"
    second = await launch(db, "bob", None, None)  # a token without the claim
    assert second.creator_email == "bob@new.example"
    assert await stored_email(db, "bob") == "bob@new.example"


async def test_without_any_claim_the_event_has_no_email(db: Database) -> None:
    event = await launch(db, "carol", None, None)
    assert event.creator_email is None
    assert await stored_email(db, "carol") is None
