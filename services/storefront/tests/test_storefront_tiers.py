"""A tiered drop with stretch goals on its page: the next buyer's price and the tier ahead,
each goal's progress, reached once campaigns says so (redelivered or not)."""

import uuid

import httpx
from dropwave_contracts.events import CampaignStretchGoalReached, OrderConfirmed
from dropwave_runtime.db import Database
from fastapi import FastAPI
from storefront import domain

from tests.factories import event

from .test_storefront_handlers import row
from .test_storefront_pages import app, client, drop, storefront  # noqa: F401  (fixtures)

TIERS = [{"up_to_buyer": 2, "price_cents": 1000}, {"up_to_buyer": 4, "price_cents": 1200}]
GOALS = [{"orders": 8, "message": "Engraving for all"}, {"orders": 10, "message": "A stand"}]


def buyer(campaign_id: uuid.UUID, n: int) -> OrderConfirmed:
    return event(OrderConfirmed, campaign_id=campaign_id, buyer_number=n)


def test_pricing_and_goal_progress() -> None:
    assert domain.pricing(1500, TIERS, 0) == domain.Pricing(1000, 2, 1200)
    assert domain.pricing(1500, TIERS, 3) == domain.Pricing(1200, 4, 1500)
    assert domain.pricing(1500, TIERS, 9) == domain.Pricing(1500, None, None)
    assert domain.pricing(1500, [], 0) == domain.Pricing(1500, None, None)
    goals = domain.stretch_goals(GOALS, [8], 7)
    assert [(g.reached, g.progress) for g in goals] == [(True, 8), (False, 7)]


async def test_the_page_shows_the_next_buyers_tier_and_the_goals(
    app: FastAPI,  # noqa: F811
    client: httpx.AsyncClient,  # noqa: F811
    db: Database,
) -> None:
    cid, slug, feed = await drop(db, price_tiers=TIERS, stretch_goals=GOALS)
    first = (await client.get(f"/{slug}")).text
    assert '<p class="price">$10.00</p>' in first
    assert "Early-bird price up to buyer #2, then $12.00." in first
    assert "<strong>8 orders</strong>: Engraving for all</span>" in first
    assert '<progress max="8" value="0"' in first

    await feed.deliver(*(buyer(cid, n) for n in (1, 3, 2)))  # out of order: the highest
    goal = event(CampaignStretchGoalReached, campaign_id=cid, goal_orders=8, message="x")
    await feed.deliver(goal, goal.model_copy(update={"event_id": uuid.uuid4()}))
    page = await row(db, cid)
    assert page.highest_buyer_number == 3
    assert page.stretch_goals_reached == [8]  # once, whatever the redelivery
    storefront(app).cache.invalidate(slug)  # what the listener does on the NOTIFY
    later = (await client.get(f"/{slug}")).text
    assert '<p class="price">$12.00</p>' in later
    assert "Early-bird price up to buyer #4, then $15.00." in later
    assert "Engraving for all (reached)" in later
    assert '<progress max="10" value="3"' in later
