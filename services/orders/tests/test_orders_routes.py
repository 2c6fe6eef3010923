"""The orders HTTP API on a real PostgreSQL (in-process ASGI; no broker needed for these)."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from dropwave_contracts.events import OrderCancelled, OrderPlaced, PaymentAuthorized
from dropwave_contracts.topics import parse_event
from dropwave_runtime.db import Database, outbox_table
from orders import handlers
from orders.bootstrap import bootstrap
from orders.models import CampaignSnapshot, Order
from orders.settings import Settings
from sqlalchemy import select, update

from .conftest import AUTH, MakeCampaign

BODY = {"email": "buyer@example.com", "payment_method_id": "pm_card_visa"}


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=db_url,
        kafka_bootstrap_servers="127.0.0.1:1",  # not used: no lifespan, no consumer
        order_token_secret="test-order-secret",
        **AUTH,
    )
    app = bootstrap(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://orders") as c:
        yield c
    await app.state.runtime.db.dispose()


async def slug_of(db: Database, campaign_id: uuid.UUID) -> str:
    async with db.sessions() as session:
        campaign = await session.get(CampaignSnapshot, campaign_id)
        assert campaign is not None
        return campaign.slug


async def place(client: httpx.AsyncClient, slug: str, key: str, body: Any = None) -> httpx.Response:
    return await client.post(
        f"/api/v1/campaigns/{slug}/orders", headers={"Idempotency-Key": key}, json=body or BODY
    )


async def cancelled_events(db: Database) -> list[OrderCancelled]:
    async with db.sessions() as session:
        payloads = await session.scalars(select(outbox_table.c.payload))
        return [e for e in map(parse_event, payloads) if isinstance(e, OrderCancelled)]


async def test_placing_is_idempotent_and_validated(
    client: httpx.AsyncClient, db: Database, make_campaign: MakeCampaign
) -> None:
    slug = await slug_of(db, await make_campaign())
    first = await place(client, slug, "k1")
    assert first.status_code == 201, first.text
    order = first.json()
    assert order["buyer_number"] == 1
    assert order["status"] == "pending"
    assert order["order_token"]
    assert first.headers["Location"] == f"/api/v1/orders/{order['id']}"
    again = await place(client, slug, "k1")
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == order
    other = await place(client, slug, "k1", {**BODY, "email": "other@example.com"})
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    for bad in (
        {"email": "not-an-email"},
        {**BODY, "phone": "0123"},
        {**BODY, "referral_code": "<script>"},
        {**BODY, "admin": True},
    ):
        r = await place(client, slug, str(uuid.uuid4()), bad)
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), bad
    ok = await place(
        client, slug, "k2", {**BODY, "phone": "+14155550100", "referral_code": "f-1", "source": "x"}
    )
    assert ok.status_code == 201
    assert ok.json()["buyer_number"] == 2
    unknown = await place(client, "no-such-drop", "k3")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "campaign_not_found"
    missing_key = await client.post(f"/api/v1/campaigns/{slug}/orders", json=BODY)
    assert missing_key.status_code == 422
    assert missing_key.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    bad_key = await place(client, slug, "has space")
    assert bad_key.status_code == 422
    assert bad_key.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    extra = await place(client, slug, "k4", {**BODY, "admin": True})
    assert extra.json()["errors"][0]["loc"] == ["body", "admin"]
    garbled = await client.post(
        f"/api/v1/campaigns/{slug}/orders",
        headers={"Idempotency-Key": "k5", "Content-Type": "application/json"},
        content=b'{"email": ',
    )
    assert (garbled.status_code, garbled.json()["code"]) == (422, "validation_error")
    assert garbled.headers["Content-Type"] == "application/problem+json"
    async with db.sessions() as session:
        numbers = (await session.scalars(select(Order.buyer_number))).all()
    assert sorted(numbers) == [1, 2]  # bad requests changed nothing
    async with db.sessions() as session:
        payloads = (await session.scalars(select(outbox_table.c.payload))).all()
    placed = [e for e in map(parse_event, payloads) if isinstance(e, OrderPlaced)]
    # The creator's stats count them by referral code and source (campaigns/stats).
    assert {(e.buyer_number, e.referral_code, e.source) for e in placed} == {
        (1, None, None),
        (2, "f-1", "x"),
    }


async def test_place_order_is_documented(client: httpx.AsyncClient) -> None:
    """The hot path reads its header and body itself; OpenAPI must still describe them."""
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/api/v1/campaigns/{slug}/orders"]["post"]
    assert {p["name"] for p in operation["parameters"]} == {"slug", "Idempotency-Key"}
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) >= {"email", "phone", "payment_method_id"}
    assert "201" in operation["responses"]


async def test_buyer_cancels_a_pending_order_once(
    client: httpx.AsyncClient, db: Database, make_campaign: MakeCampaign
) -> None:
    slug = await slug_of(db, await make_campaign())
    order = (await place(client, slug, "k")).json()
    url = f"/api/v1/orders/{order['id']}/cancel"
    wrong = await client.post(url, headers={"X-Order-Token": "0" * 64})
    assert wrong.status_code == 404
    assert await cancelled_events(db) == []
    done = await client.post(url, headers={"X-Order-Token": order["order_token"]})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "cancelled"
    assert done.json()["buyer_number"] == 1
    (event,) = await cancelled_events(db)
    assert (event.order_id, event.buyer_number, event.was_confirmed) == (
        uuid.UUID(order["id"]),
        1,
        False,
    )
    twice = await client.post(url, params={"token": order["order_token"]})
    assert twice.status_code == 409
    assert twice.json()["code"] == "order_not_cancellable"
    assert len(await cancelled_events(db)) == 1
    # The number stays taken: the next buyer is #2.
    assert (await place(client, slug, "k-next")).json()["buyer_number"] == 2


async def test_cancelling_a_confirmed_order_says_so(
    client: httpx.AsyncClient, db: Database, make_campaign: MakeCampaign
) -> None:
    campaign_id = await make_campaign()
    order = (await place(client, await slug_of(db, campaign_id), "k")).json()
    async with db.unit_of_work() as uow:
        await handlers.on_payment_authorized(
            PaymentAuthorized(
                producer="payments",
                correlation_id="c",
                campaign_id=campaign_id,
                order_id=uuid.UUID(order["id"]),
                payment_intent_id="pi_1",
                amount_cents=2500,
                currency="usd",
                capture_before=None,
            ),
            uow,
        )
    r = await client.post(
        f"/api/v1/orders/{order['id']}/cancel", headers={"X-Order-Token": order["order_token"]}
    )
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled"
    (event,) = await cancelled_events(db)
    assert event.was_confirmed is True


async def test_no_cancel_after_the_deadline_or_once_closed(
    client: httpx.AsyncClient, db: Database, make_campaign: MakeCampaign
) -> None:
    campaign_id = await make_campaign()
    slug = await slug_of(db, campaign_id)
    orders = [(await place(client, slug, f"k{i}")).json() for i in range(2)]
    async with db.unit_of_work() as uow:
        await uow.session.execute(
            update(CampaignSnapshot)
            .where(CampaignSnapshot.id == campaign_id)
            .values(deadline=datetime.now(UTC) - timedelta(seconds=1))
        )
    late = await client.post(
        f"/api/v1/orders/{orders[0]['id']}/cancel",
        headers={"X-Order-Token": orders[0]["order_token"]},
    )
    assert late.status_code == 409
    assert late.json()["code"] == "deadline_passed"
    assert late.headers["content-type"].startswith("application/problem+json")
    async with db.unit_of_work() as uow:
        await uow.session.execute(
            update(CampaignSnapshot)
            .where(CampaignSnapshot.id == campaign_id)
            .values(status="successful")
        )
    closed = await client.post(
        f"/api/v1/orders/{orders[1]['id']}/cancel",
        headers={"X-Order-Token": orders[1]["order_token"]},
    )
    assert closed.status_code == 409
    assert closed.json()["code"] == "campaign_closed"
    assert await cancelled_events(db) == []
    view = await client.get(
        f"/api/v1/orders/{orders[1]['id']}", headers={"X-Order-Token": orders[1]["order_token"]}
    )
    assert view.json()["status"] == "pending"
    refused = await place(client, slug, "k-late")
    assert refused.status_code == 409
    assert refused.json()["code"] == "campaign_closed"
