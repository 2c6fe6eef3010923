"""Campaigns' routes in-process (ASGI on a real, migrated PostgreSQL): the problems a refused
command answers, and campaigns' own limits (campaign creation per creator, live streams per
client address)."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from campaigns.activity.live import LiveHub
from campaigns.activity.settings import ActivitySettings
from fastapi import FastAPI

from .activity.test_activity_routes import campaign
from .conftest import app_with_test_creators


@pytest.fixture
async def app(db_url: str) -> AsyncIterator[FastAPI]:
    application = app_with_test_creators(
        db_url,
        ActivitySettings(live_max_clients_per_ip=2, live_max_connection_s=0.2),
        min_campaign_duration_s=0,
        rate_limits={"campaign_create_per_creator": "2/hour"},
    )
    yield application
    await application.state.runtime.db.dispose()


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://campaigns")


async def test_refused_commands_answer_their_problems(app: FastAPI) -> None:
    """Domain errors become problems only in the routes: NotFound/NotAllowed 404/403 (their
    message as the title, no detail), Conflict 409 and Invalid 422 under the route's title."""
    soon = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    draft = {"title": "Walnut tray", "price_cents": 2500, "min_orders": 5, "deadline": soon}
    carol, dave = {"X-Test-Creator": "carol"}, {"X-Test-Creator": "dave"}
    async with client(app) as http:
        created = await http.post("/api/v1/campaigns", json=draft, headers=carol)
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        stranger = await http.patch(f"/api/v1/campaigns/{cid}", json={"title": "x"}, headers=dave)
        missing = await http.post(f"/api/v1/campaigns/{uuid.uuid4()}/cancel", headers=carol)
        taken = await http.post(
            "/api/v1/campaigns", json={**draft, "slug": created.json()["slug"]}, headers=dave
        )
        bad_cursor = await http.get(
            "/api/v1/campaigns", params={"mine": "true", "cursor": "!!!"}, headers=carol
        )
    assert stranger.json() == {
        "type": "https://docs.dropwave.dev/problems/not_owner",
        "title": "Only the campaign's creator may do this",
        "status": 403,
        "code": "not_owner",
    }
    assert missing.json() == {
        "type": "https://docs.dropwave.dev/problems/campaign_not_found",
        "title": "No such campaign",
        "status": 404,
        "code": "campaign_not_found",
    }
    assert taken.status_code == 409
    assert {k: taken.json()[k] for k in ("code", "title")} == {
        "code": "slug_taken",
        "title": "Campaign cannot be created",
    }
    assert taken.json()["detail"].startswith("The slug ")
    assert bad_cursor.json() == {
        "type": "https://docs.dropwave.dev/problems/bad_cursor",
        "title": "Bad listing request",
        "status": 422,
        "code": "bad_cursor",
        "detail": "The cursor is invalid.",
    }


async def test_campaign_creation_is_limited_per_creator(app: FastAPI) -> None:
    deadline = (datetime.now(UTC) + timedelta(days=7)).isoformat()

    async def create(http: httpx.AsyncClient, creator: str) -> httpx.Response:
        body = {"title": f"Drop {uuid.uuid4().hex[:6]}", "price_cents": 2500, "min_orders": 5}
        return await http.post(
            "/api/v1/campaigns",
            json={**body, "deadline": deadline},
            headers={"X-Test-Creator": creator},
        )

    async with client(app) as http:
        assert [(await create(http, "alice")).status_code for _ in range(2)] == [201, 201]
        refused = await create(http, "alice")
        assert (refused.status_code, refused.json()["code"]) == (429, "rate_limited")
        assert 1700 <= int(refused.headers["Retry-After"]) <= 1800  # one of 2/hour
        assert (await create(http, "bob")).status_code == 201  # per creator


def test_live_hub_counts_streams_per_address() -> None:
    hub = LiveHub(queue_size=1, max_clients=10, max_per_ip=2)
    a = [hub.subscribe("c1", "198.51.100.1"), hub.subscribe("c2", "198.51.100.1")]
    assert None not in a
    assert hub.subscribe("c1", "198.51.100.1") is None
    assert hub.subscribe("c1", "198.51.100.2") is not None
    sub = a[0]
    assert sub is not None
    hub.unsubscribe(sub)
    assert hub.clients_of("198.51.100.1") == 1
    assert hub.subscribe("c1", "198.51.100.1") is not None


async def test_live_streams_are_capped_per_client_address(app: FastAPI) -> None:
    """Two streams per address here: the third from the same visitor is refused (429) while
    another visitor still gets one; an untrusted peer cannot dodge the cap via the header."""
    _, slug = await campaign(app)
    hub: LiveHub = app.state.deps["feed"].hub
    alice = hub.subscribe("other", "198.51.100.1"), hub.subscribe("other", "198.51.100.1")
    assert None not in alice  # two streams alice holds open already
    async with client(app) as http:
        refused = await http.get(
            f"/api/v1/campaigns/{slug}/live", headers={"X-Forwarded-For": "198.51.100.1"}
        )
        assert (refused.status_code, refused.json()["code"]) == (429, "too_many_streams")
        assert "Retry-After" in refused.headers
        # Bob (another address) gets his stream (short here: streams end after 0.2 s).
        bob = await http.get(
            f"/api/v1/campaigns/{slug}/live", headers={"X-Forwarded-For": "198.51.100.2"}
        )
        assert bob.status_code == 200
        assert "event: counter" in bob.text
    assert hub.clients_of("198.51.100.2") == 0  # Bob's ended stream was let go
    # A peer that is not a trusted proxy is counted as itself, whatever it says.
    hub.subscribe("other", "203.0.113.9")
    hub.subscribe("other", "203.0.113.9")
    transport = httpx.ASGITransport(app, client=("203.0.113.9", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://campaigns") as stranger:
        spoofed = await stranger.get(
            f"/api/v1/campaigns/{slug}/live", headers={"X-Forwarded-For": "198.51.100.3"}
        )
        assert spoofed.status_code == 429
