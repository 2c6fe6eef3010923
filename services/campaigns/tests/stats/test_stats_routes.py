"""The creator's stats on a real, migrated PostgreSQL: counted exactly from events delivered
twice and handled concurrently, and from view/share hits posted concurrently while the
roll-up runs; owner only."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from campaigns import handlers
from campaigns.activity import store
from campaigns.activity.settings import ActivitySettings
from campaigns.bootstrap import SERVICE
from campaigns.models import Campaign
from campaigns.settings import Settings
from dropwave_contracts.envelope import Event
from dropwave_contracts.events import OrderCancelled, OrderConfirmed, OrderPlaced
from dropwave_runtime.auth import current_creator_identity
from dropwave_runtime.consumer import EventConsumer
from dropwave_runtime.service import ServiceRuntime
from fastapi import FastAPI

from tests.factories import event

from ..conftest import app_with_test_creators
from ..test_campaigns_handlers import NoDeadLetters, create, publish, record

SOURCES = ["tiktok", "TikTok", "ig", None, "storefront"]  # tiktok, instagram, direct x2
CODES = ["ANNA", "BEN", None]


@pytest.fixture
async def app(db_url: str) -> AsyncIterator[FastAPI]:
    # The load below comes from one address: past the request limits and the counters' bucket.
    application = app_with_test_creators(
        db_url,
        ActivitySettings(counter_rate_per_s=1000, counter_burst=1000),
        min_campaign_duration_s=0,
        rate_limit_exempt="127.0.0.1/32",
    )
    yield application
    await application.state.runtime.db.dispose()


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://campaigns")


def order_events(campaign: Campaign, n: int) -> list[Event]:
    """Buyer #n's OrderPlaced and, for most, OrderConfirmed; every 7th is then cancelled."""
    order_id = uuid.uuid4()
    common = {"campaign_id": campaign.id, "order_id": order_id, "buyer_number": n}
    at = datetime(2026, 12, 1, 16, 30, tzinfo=UTC) + timedelta(minutes=n)  # two hours
    events: list[Event] = [
        event(
            OrderPlaced,
            **common,
            occurred_at=at,
            referral_code=CODES[n % 3],
            source=SOURCES[n % 5],
        )
    ]
    if n % 4:
        events.append(event(OrderConfirmed, **common, occurred_at=at + timedelta(seconds=5)))
    if n % 7 == 0:
        events.append(
            event(OrderCancelled, **common, was_confirmed=bool(n % 4), reason="buyer_cancelled")
        )
    return events


@pytest.mark.timeout(120)
async def test_stats_are_exact_after_concurrent_orders_views_and_shares(app: FastAPI) -> None:
    rt: ServiceRuntime[Settings] = app.state.runtime
    campaign = await create(rt.db)
    await publish(rt.db, campaign.id)
    consumer = EventConsumer("campaigns", rt.db, SERVICE.events, NoDeadLetters())
    orders = [order_events(campaign, n) for n in range(1, 121)]
    at_once = asyncio.Semaphore(12)  # below the pool: concurrency, not pool timeouts

    async def deliver(events: list[Event], base: int) -> None:
        # One order's events in order, each delivered twice (at-least-once).
        for i, e in enumerate(events):
            for _ in range(2):
                async with at_once:
                    await consumer.handle(record(e, base + i))

    async def hit(http: httpx.AsyncClient, kind: str, n: int) -> None:
        params = {k: v for k, v in (("ref", CODES[n % 3]), ("source", SOURCES[n % 5])) if v}
        async with at_once:
            r = await http.post(f"/api/v1/campaigns/{campaign.slug}/{kind}", params=params)
        assert r.status_code == 202, r.text

    async def roll_ups() -> None:
        for _ in range(20):
            await handlers_roll_up(rt)
            await asyncio.sleep(0.01)

    async with client(app) as http:
        await asyncio.gather(
            *(deliver(events, 10 * n) for n, events in enumerate(orders)),
            *(hit(http, "views", n) for n in range(300)),
            *(hit(http, "shares", n) for n in range(60)),
            roll_ups(),
            roll_ups(),
        )
        owner = {"X-Test-Creator": "alice"}
        got = await http.get(f"/api/v1/campaigns/{campaign.id}/stats", headers=owner)
        await handlers_roll_up(rt)  # rolled up or pending: the same answer
        again = await http.get(f"/api/v1/campaigns/{campaign.id}/stats", headers=owner)
    assert got.status_code == 200, got.text
    assert got.headers["Cache-Control"] == "private, no-store"
    body = got.json()
    assert again.json() == body

    placed = range(1, 121)
    authorized = [n for n in placed if n % 4]
    cancelled = [n for n in placed if n % 7 == 0]
    assert (body["views"], body["shares"], body["orders"]) == (300, 60, 120)
    assert body["authorized_orders"] == len(authorized) == 90
    assert body["cancelled_orders"] == len(cancelled)
    assert body["authorized_share"] == 0.75
    assert body["conversion_rate"] == 0.4

    def label(n: int) -> str:
        return {0: "tiktok", 1: "tiktok", 2: "instagram"}.get(n % 5, "direct")

    by_source = {s["source"]: s for s in body["by_source"]}
    assert set(by_source) == {"tiktok", "instagram", "direct"}
    for name, row in by_source.items():
        assert row["orders"] == sum(1 for n in placed if label(n) == name)
        assert row["views"] == sum(1 for n in range(300) if label(n) == name)
        assert row["shares"] == sum(1 for n in range(60) if label(n) == name)
        assert row["authorized_orders"] == sum(1 for n in authorized if label(n) == name)
    by_code = {c["referral_code"]: c for c in body["by_referral_code"]}
    assert set(by_code) == {"ANNA", "BEN", None}
    for code, row in by_code.items():
        assert row["orders"] == sum(1 for n in placed if CODES[n % 3] == code)
        assert row["views"] == sum(1 for n in range(300) if CODES[n % 3] == code)
    assert body["orders_per_hour"] == [
        {"hour": "2026-12-01T16:00:00Z", "orders": 29, "authorized_orders": 22},
        {"hour": "2026-12-01T17:00:00Z", "orders": 60, "authorized_orders": 45},
        {"hour": "2026-12-01T18:00:00Z", "orders": 31, "authorized_orders": 23},
    ]
    assert sum(h["orders"] for h in body["orders_per_hour"]) == 120
    # The public counter agrees with the stats.
    row = await _campaign(rt, campaign.id)
    assert row.current_orders == len([n for n in authorized if n not in cancelled])


async def handlers_roll_up(rt: ServiceRuntime[Settings]) -> None:
    async with rt.db.unit_of_work() as uow:
        await store.roll_up(uow.session)


async def _campaign(rt: ServiceRuntime[Settings], campaign_id: uuid.UUID) -> Campaign:
    async with rt.db.sessions() as session:
        row = await session.get(Campaign, campaign_id)
    assert row is not None
    return row


async def test_stats_are_the_owners_only_and_bad_input_changes_nothing(app: FastAPI) -> None:
    rt: ServiceRuntime[Settings] = app.state.runtime
    campaign = await create(rt.db)
    await publish(rt.db, campaign.id)
    path = f"/api/v1/campaigns/{campaign.id}/stats"
    async with client(app) as http:
        owner = await http.get(path, headers={"X-Test-Creator": "alice"})
        stranger = await http.get(path, headers={"X-Test-Creator": "mallory"})
        missing = await http.get(
            f"/api/v1/campaigns/{uuid.uuid4()}/stats", headers={"X-Test-Creator": "alice"}
        )
        junk = await http.get("/api/v1/campaigns/not-a-uuid/stats", headers={"X-Test-Creator": "a"})
        for params in ({"ref": "<script>"}, {"source": "x" * 65}, {"ref": ""}):
            bad = await http.post(f"/api/v1/campaigns/{campaign.slug}/views", params=params)
            assert (bad.status_code, bad.json()["code"]) == (422, "validation_error"), params
        del app.dependency_overrides[current_creator_identity]
        anonymous = await http.get(path)
    assert owner.status_code == 200, owner.text
    assert owner.json()["orders"] == 0
    assert owner.json()["conversion_rate"] is None
    assert owner.json()["by_source"] == []
    for answer in (stranger, missing):
        assert (answer.status_code, answer.json()["code"]) == (404, "campaign_not_found")
    assert stranger.json() == missing.json()  # another's campaign is as if there were none
    assert junk.status_code == 422
    assert anonymous.status_code == 401
    async with rt.db.sessions() as session:
        assert await store.stats(session, campaign.id) == (0, 0)  # the 422s counted nothing
    assert handlers  # the core's handlers feed the projection (on_order_confirmed...)
