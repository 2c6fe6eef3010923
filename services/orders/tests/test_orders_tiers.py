"""Early-bird tiers at intake: each buyer's price is the tier of the buyer number assigned
to them, in the same transaction, under concurrency from two instances, with no query per
order; orders learns the tiers from the campaign's events."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from dropwave_contracts.events import (
    CampaignCreated,
    CampaignPublished,
    OrderPlaced,
    PriceTier,
    price_for_buyer,
)
from dropwave_contracts.topics import parse_event
from dropwave_runtime.db import Database, outbox_table
from orders import handlers
from orders.intake import OrderIntake
from orders.models import CampaignSnapshot
from sqlalchemy import event as sa_event
from sqlalchemy import select

from tests.factories import event

from .conftest import MakeCampaign
from .test_orders_intake import orders_of, place_order

TIERS = [{"up_to_buyer": 50, "price_cents": 2000}, {"up_to_buyer": 120, "price_cents": 2200}]
PRICE = 2500  # the snapshot's price_cents (conftest)


def price(number: int) -> int:
    return price_for_buyer(number, [PriceTier.model_validate(t) for t in TIERS], PRICE)


@pytest.mark.timeout(120)
async def test_concurrent_orders_pay_exactly_their_buyer_numbers_tier(
    db_url: str, db: Database, make_campaign: MakeCampaign
) -> None:
    campaign_id = await make_campaign(price_tiers=TIERS)
    other_db = Database(db_url, "orders", pool_size=4)
    try:
        a, b = OrderIntake(db), OrderIntake(other_db)
        results = await asyncio.gather(
            asyncio.gather(*(a.place(campaign_id, place_order()) for _ in range(100))),
            asyncio.gather(*(b.place(campaign_id, place_order()) for _ in range(100))),
        )
    finally:
        await other_db.dispose()
    placed = [p for batch in results for p in batch]
    assert sorted(p.order.buyer_number for p in placed) == list(range(1, 201))
    # The answer, the stored order and OrderPlaced (what payments authorizes) all agree.
    assert all(p.order.amount_cents == price(p.order.buyer_number) for p in placed)
    stored = await orders_of(db, campaign_id)
    assert [(o.buyer_number, o.amount_cents) for o in stored] == [
        (n, price(n)) for n in range(1, 201)
    ]
    async with db.sessions() as session:
        payloads = await session.scalars(select(outbox_table.c.payload))
        events = [e for e in map(parse_event, payloads) if isinstance(e, OrderPlaced)]
    assert len(events) == 200
    assert all(e.amount_cents == price(e.buyer_number) for e in events)
    assert {price(n) for n in (1, 50, 51, 120, 121, 200)} == {2000, 2200, 2500}


async def test_a_batch_costs_the_same_statements_with_tiers_whatever_its_size(
    db: Database, make_campaign: MakeCampaign
) -> None:
    """No query per order: pricing reads the tiers off the snapshot the batch locks."""
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    sa_event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        sizes = []
        for n in (1, 40):
            campaign_id = await make_campaign(price_tiers=TIERS)
            intake = OrderIntake(db)
            statements.clear()
            await asyncio.gather(*(intake.place(campaign_id, place_order()) for _ in range(n)))
            assert intake.batches == 1
            sizes.append(len(statements))
    finally:
        sa_event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert sizes[0] == sizes[1]


async def test_orders_learns_the_tiers_from_the_campaigns_events(db: Database) -> None:
    campaign_id = uuid.uuid4()
    deadline = datetime.now(UTC) + timedelta(days=3)
    rules = {"price_cents": PRICE, "currency": "usd", "min_orders": 5, "deadline": deadline}
    async with db.unit_of_work() as uow:
        await handlers.on_campaign_created(
            event(CampaignCreated, campaign_id=campaign_id, slug="tiered", **rules), uow
        )
    async with db.unit_of_work() as uow:
        await handlers.on_campaign_published(
            event(
                CampaignPublished,
                campaign_id=campaign_id,
                slug="tiered",
                price_tiers=TIERS,
                **rules,
            ),
            uow,
        )
    async with db.sessions() as session:
        snapshot = await session.get(CampaignSnapshot, campaign_id)
    assert snapshot is not None
    assert snapshot.price_tiers == TIERS
    intake = OrderIntake(db)
    first = await intake.place(campaign_id, place_order("key-1"))
    assert (first.order.buyer_number, first.order.amount_cents) == (1, 2000)
    # A replay answers the price fixed at placement.
    replay = await intake.place(campaign_id, place_order("key-1"))
    assert replay.replayed
    assert replay.order == first.order
