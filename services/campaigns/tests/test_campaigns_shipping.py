"""A campaign that ships physical goods says where (`ship_to_countries`): validated, a rule
(fixed once published), on the public view and on `CampaignPublished` for orders."""

from datetime import UTC, datetime, timedelta

from campaigns import handlers
from dropwave_contracts.events import CampaignPublished
from dropwave_runtime.db import Database
from fastapi import FastAPI

from .test_campaigns_handlers import outbox
from .test_campaigns_payouts import payouts
from .test_campaigns_routes import app, client

__all__ = ["app"]  # the fixture

CAROL = {"X-Test-Creator": "carol"}


def draft(**fields: object) -> dict[str, object]:
    soon = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    rules = {"price_cents": 2500, "min_orders": 5, "deadline": soon}
    return {"title": "Walnut tray", **rules, **fields}


async def test_ship_to_countries_are_checked_shown_published_and_then_fixed(
    app: FastAPI, db: Database
) -> None:
    async with db.unit_of_work() as uow:  # carol can take payouts: she may publish
        await handlers.on_creator_payouts_updated(payouts("carol", True, datetime.now(UTC)), uow)
    async with client(app) as http:
        for bad in (["us"], ["ZZ"], ["USA"], "US", [1]):
            body = draft(ship_to_countries=bad)
            r = await http.post("/api/v1/campaigns", json=body, headers=CAROL)
            assert (r.status_code, r.json()["code"]) == (422, "validation_error"), bad
        digital = await http.post("/api/v1/campaigns", json=draft(), headers=CAROL)
        assert digital.json()["ship_to_countries"] == []
        created = await http.post(
            "/api/v1/campaigns", json=draft(ship_to_countries=["US", "DE", "US"]), headers=CAROL
        )
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        assert created.json()["ship_to_countries"] == ["US", "DE"]
        edited = await http.patch(
            f"/api/v1/campaigns/{cid}", json={"ship_to_countries": ["US", "CA"]}, headers=CAROL
        )
        assert edited.json()["ship_to_countries"] == ["US", "CA"]
        published = await http.post(f"/api/v1/campaigns/{cid}/publish", headers=CAROL)
        assert published.status_code == 200, published.text
        locked = await http.patch(
            f"/api/v1/campaigns/{cid}", json={"ship_to_countries": []}, headers=CAROL
        )
        assert (locked.status_code, locked.json()["code"]) == (409, "rules_locked")
        public = await http.get(f"/api/v1/campaigns/{created.json()['slug']}")
        assert public.json()["ship_to_countries"] == ["US", "CA"]
    (event,) = [e for e in await outbox(db) if isinstance(e, CampaignPublished)]
    assert event.ship_to_countries == ["US", "CA"]
