"""The activity routes in-process (no lifespan: no broker, no background tasks) on a real,
migrated PostgreSQL."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from campaigns.activity import routes, store
from campaigns.activity.settings import ActivityFeature, ActivitySettings
from dropwave_runtime.bootstrap import Service
from dropwave_runtime.service import ServiceRuntime
from dropwave_runtime.settings import ServiceSettings
from fastapi import FastAPI
from sqlalchemy import text


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def app(db_url: str) -> AsyncIterator[tuple[FastAPI, Clock]]:
    rt = ServiceRuntime(
        "campaigns",
        ServiceSettings(database_url=db_url, kafka_bootstrap_servers="127.0.0.1:1"),
    )
    feed = ActivityFeature.from_settings(ActivitySettings(counter_rate_per_s=1, counter_burst=3))
    clock = Clock()
    feed.clock = clock
    only_the_feed = Service(
        "campaigns", "test", ServiceSettings, Path("."), routers=[routes.router]
    )
    application = rt.wire(only_the_feed, feed=feed)
    yield application, clock
    await rt.db.dispose()


def client(app: FastAPI, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app, client=(peer, 5000))
    return httpx.AsyncClient(transport=transport, base_url="http://campaigns")


async def campaign(app: FastAPI, status: str = "active") -> tuple[uuid.UUID, str]:
    rt: ServiceRuntime = app.state.runtime
    cid = uuid.uuid4()
    slug = f"tote-{cid.hex[:8]}"
    async with rt.db.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO campaigns (id, creator_id, slug, title, description, price_cents,"
                " currency, min_orders, deadline, status, current_orders, milestones_reached)"
                " VALUES (:id, 'creator-1', :slug, 'Tote', '', 2500, 'usd', 5, :deadline,"
                " :status, 0, '{}')"
            ),
            {
                "id": cid,
                "slug": slug,
                "status": status,
                "deadline": datetime.now(UTC) + timedelta(days=1),
            },
        )
    return cid, slug


async def test_feed_pages_through_http(app: tuple[FastAPI, Clock]) -> None:
    application, _ = app
    cid, slug = await campaign(application)
    rt: ServiceRuntime = application.state.runtime
    async with rt.db.unit_of_work() as uow:
        for n in range(1, 6):
            await store.record(uow.session, cid, "buyer_joined", {"buyer_number": n})
    async with client(application) as http:
        first = await http.get(f"/api/v1/campaigns/{slug}/activity", params={"limit": 3})
        assert first.status_code == 200, first.text
        body = first.json()
        assert [i["message"] for i in body["items"]] == [
            "Buyer #5 joined",
            "Buyer #4 joined",
            "Buyer #3 joined",
        ]
        second = await http.get(
            f"/api/v1/campaigns/{slug}/activity", params={"limit": 3, "cursor": body["next_cursor"]}
        )
        rest = second.json()
        assert [i["data"]["buyer_number"] for i in rest["items"]] == [2, 1]
        assert rest["next_cursor"] is None

        for params in ({"limit": 0}, {"limit": 101}, {"limit": "x"}):
            bad = await http.get(f"/api/v1/campaigns/{slug}/activity", params=params)
            assert bad.status_code == 422
        bad_cursor = await http.get(
            f"/api/v1/campaigns/{slug}/activity", params={"cursor": "garbage"}
        )
        assert bad_cursor.status_code == 400
        assert bad_cursor.json()["code"] == "bad_cursor"
        _, draft = await campaign(application, status="draft")
        for path in (f"/api/v1/campaigns/{draft}/activity", "/api/v1/campaigns/nope/activity"):
            assert (await http.get(path)).status_code == 404
        assert (await http.get("/api/v1/campaigns/Bad_Slug/activity")).status_code == 422
        live = await http.get(f"/api/v1/campaigns/{slug}/live", headers={"Last-Event-ID": "zz"})
        assert live.status_code == 400


async def test_views_and_shares_are_counted_and_rate_limited_per_client(
    app: tuple[FastAPI, Clock],
) -> None:
    application, clock = app
    cid, slug = await campaign(application)
    rt: ServiceRuntime = application.state.runtime
    alice = {"X-Forwarded-For": "198.51.100.1"}  # the gateway (a trusted peer) says who
    bob = {"X-Forwarded-For": "198.51.100.2"}
    async with client(application) as http:
        for path in ("views", "views", "shares"):
            r = await http.post(f"/api/v1/campaigns/{slug}/{path}", headers=alice)
            assert r.status_code == 202, r.text
        limited = await http.post(f"/api/v1/campaigns/{slug}/views", headers=alice)
        assert limited.status_code == 429
        assert limited.headers["content-type"].startswith("application/problem+json")
        assert limited.json()["code"] == "rate_limited"
        assert limited.headers["Retry-After"] == "1"
        assert (await http.post(f"/api/v1/campaigns/{slug}/views", headers=bob)).status_code == 202
        clock.now += 1.0
        assert (
            await http.post(f"/api/v1/campaigns/{slug}/views", headers=alice)
        ).status_code == 202
        missing = await http.post("/api/v1/campaigns/no-such-drop/views", headers=bob)
        assert missing.status_code == 404
    async with rt.db.sessions() as session:
        assert await store.stats(session, cid) == (4, 1)  # the 429 counted nothing

    # An untrusted peer cannot pick its bucket by forging X-Forwarded-For.
    async with client(application, peer="203.0.113.9") as http:
        codes = [
            (
                await http.post(
                    f"/api/v1/campaigns/{slug}/views", headers={"X-Forwarded-For": f"10.0.0.{i}"}
                )
            ).status_code
            for i in range(4)
        ]
    assert codes == [202, 202, 202, 429]
