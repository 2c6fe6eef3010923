"""Tiers and stretch goals over HTTP (in-process, real database): bad input is a 422
problem that creates nothing, a published campaign's tiers are a 409, and the public view
shows the next buyer's price, the tier ahead and the stretch goals."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI

from .conftest import app_with_test_creators
from .test_campaigns_routes import client

TIERS = [{"up_to_buyer": 2, "price_cents": 2000}, {"up_to_buyer": 4, "price_cents": 2200}]
GOALS = [{"orders": 8, "message": "Everyone gets the enamel pin"}]
ERIN = {"X-Test-Creator": "erin"}


@pytest.fixture
async def app(db_url: str) -> AsyncIterator[FastAPI]:
    application = app_with_test_creators(
        db_url, min_campaign_duration_s=0, require_payouts_to_publish=False
    )
    yield application
    await application.state.runtime.db.dispose()


def draft(**extra: object) -> dict[str, object]:
    soon = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    return {"title": "Pins", "price_cents": 2500, "min_orders": 5, "deadline": soon, **extra}


async def test_tiers_and_goals_over_http(app: FastAPI) -> None:
    async with client(app) as http:
        bad = [
            await http.post("/api/v1/campaigns", json=draft(price_tiers=TIERS[::-1]), headers=ERIN),
            await http.post(
                "/api/v1/campaigns",
                json=draft(min_orders=10, stretch_goals=[{"orders": 8, "message": "m"}]),
                headers=ERIN,
            ),
        ]
        mine = await http.get("/api/v1/campaigns", params={"mine": "true"}, headers=ERIN)
        created = await http.post(
            "/api/v1/campaigns",
            json=draft(price_tiers=TIERS, stretch_goals=GOALS, slug="pins-tiers"),
            headers=ERIN,
        )
        cid = created.json()["id"]
        await http.post(f"/api/v1/campaigns/{cid}/publish", headers=ERIN)
        locked = await http.patch(
            f"/api/v1/campaigns/{cid}", json={"price_tiers": TIERS[:1]}, headers=ERIN
        )
        public = await http.get("/api/v1/campaigns/pins-tiers")
    assert [(r.status_code, r.json()["code"]) for r in bad] == [
        (422, "tiers_not_increasing"),
        (422, "stretch_goal_not_above_minimum"),
    ]
    assert mine.json()["items"] == []  # a refused create changes nothing
    assert created.status_code == 201, created.text
    assert (locked.status_code, locked.json()["code"]) == (409, "rules_locked")
    view = public.json()
    assert view["price_tiers"] == TIERS
    assert (
        view["current_price_cents"],
        view["current_price_until_buyer"],
        view["next_price_cents"],
    ) == (2000, 2, 2200)
    assert view["stretch_goals"] == [{**GOALS[0], "reached": False}]
