"""Fulfilment over HTTP, in-process on a real PostgreSQL: shipping addresses on orders, the
buyer's change, the creator's list and CSV (the creator dependency stands in for the token;
tokens themselves: tests/e2e/test_fulfilment.py)."""

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from dropwave_contracts.events import OrderConfirmed, OrderPlaced, PaymentAuthorized
from dropwave_contracts.topics import parse_event
from dropwave_runtime.auth import Creator, current_creator_identity
from dropwave_runtime.db import Database, outbox_table
from dropwave_runtime.problems import Problem
from fastapi import Request
from orders import handlers
from orders.bootstrap import bootstrap
from orders.fulfilment import routes as fulfilment_routes
from orders.models import CampaignSnapshot, Order
from orders.settings import Settings
from sqlalchemy import func, select, update

from tests.factories import event

from ..conftest import AUTH, MakeCampaign

ADDRESS = {
    "name": "Ada Lovelace",
    "street_address": "1 Main St",
    "city": "Springfield",
    "country_area": "IL",
    "postal_code": "62701",
    "country_code": "US",
}
BODY = {"email": "buyer@example.com", "payment_method_id": "pm_card_visa"}


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=db_url,
        kafka_bootstrap_servers="127.0.0.1:1",
        order_token_secret="test-order-secret",
        **AUTH,
    )
    app = bootstrap(settings)

    async def creator_from_header(request: Request) -> Creator:
        who = request.headers.get("X-Test-Creator")
        if who is None:
            raise Problem(401, "unauthorized", "A bearer token is required")
        return Creator(who)

    app.dependency_overrides[current_creator_identity] = creator_from_header
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://orders") as c:
        yield c
    await app.state.runtime.db.dispose()


async def slug_of(db: Database, campaign_id: uuid.UUID) -> str:
    async with db.sessions() as session:
        slug = await session.scalar(
            select(CampaignSnapshot.slug).where(CampaignSnapshot.id == campaign_id)
        )
    assert slug is not None
    return slug


async def place(client: httpx.AsyncClient, slug: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(
        f"/api/v1/campaigns/{slug}/orders",
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json=body,
    )


async def order_count(db: Database) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Order)) or 0)


async def test_a_shipping_campaigns_order_needs_a_valid_address(
    client: httpx.AsyncClient, db: Database, make_campaign: MakeCampaign
) -> None:
    slug = await slug_of(db, await make_campaign(ship_to=["US", "DE"]))
    refused = {
        "shipping_address_required": BODY,
        "country_not_shipped": {**BODY, "shipping_address": {**ADDRESS, "country_code": "FR"}},
        "shipping_address_invalid": {
            **BODY,
            "shipping_address": {**ADDRESS, "postal_code": "90210"},
        },
    }
    for code, body in refused.items():
        r = await place(client, slug, body)
        assert (r.status_code, r.json()["code"]) == (422, code), r.text
    for bad in ({**ADDRESS, "name": ""}, {**ADDRESS, "country_code": "ZZ"}, {**ADDRESS, "x": 1}):
        r = await place(client, slug, {**BODY, "shipping_address": bad})
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), bad
    assert await order_count(db) == 0  # nothing stored, no buyer number taken

    placed = await place(client, slug, {**BODY, "shipping_address": ADDRESS})
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["buyer_number"] == 1
    assert order["shipping_address"]["city"] == "SPRINGFIELD"
    assert order["shipping_address"]["name"] == "Ada Lovelace"
    read = await client.get(
        f"/api/v1/orders/{order['id']}", headers={"X-Order-Token": order["order_token"]}
    )
    assert read.json()["shipping_address"] == order["shipping_address"]
    async with db.sessions() as session:
        payloads = (await session.scalars(select(outbox_table.c.payload))).all()
    (event,) = [e for e in map(parse_event, payloads) if isinstance(e, OrderPlaced)]
    assert "SPRINGFIELD" not in event.model_dump_json().upper()  # no address on the bus
    assert event.buyer_phone is None  # no phone given (and never one without consent)


async def test_a_digital_drop_refuses_an_address(
    client: httpx.AsyncClient, db: Database, make_campaign: MakeCampaign
) -> None:
    slug = await slug_of(db, await make_campaign())
    r = await place(client, slug, {**BODY, "shipping_address": ADDRESS})
    assert (r.status_code, r.json()["code"]) == (422, "shipping_not_offered")
    assert await order_count(db) == 0
    ok = await place(client, slug, BODY)
    assert ok.status_code == 201
    assert ok.json()["shipping_address"] is None


async def test_the_buyer_changes_the_address_until_the_deadline(
    client: httpx.AsyncClient, db: Database, make_campaign: MakeCampaign
) -> None:
    campaign_id = await make_campaign(ship_to=["US", "DE"])
    slug = await slug_of(db, campaign_id)
    order = (await place(client, slug, {**BODY, "shipping_address": ADDRESS})).json()
    url = f"/api/v1/orders/{order['id']}/shipping-address"
    token = {"X-Order-Token": order["order_token"]}
    berlin = {**ADDRESS, "city": "Berlin", "postal_code": "10115", "country_code": "DE"}
    berlin.pop("country_area")
    assert (await client.put(url, json=berlin)).status_code == 404  # no token
    forged = await client.put(url, json=berlin, headers={"X-Order-Token": "0" * 64})
    assert forged.status_code == 404
    bad = await client.put(url, json={**berlin, "postal_code": "1"}, headers=token)
    assert (bad.status_code, bad.json()["code"]) == (422, "shipping_address_invalid")
    changed = await client.put(url, json=berlin, headers=token)
    assert changed.status_code == 200, changed.text
    assert changed.json()["shipping_address"]["city"] == "BERLIN"
    async with db.unit_of_work() as uow:
        await uow.session.execute(
            update(CampaignSnapshot)
            .where(CampaignSnapshot.id == campaign_id)
            .values(intake_closed_at=datetime.now(UTC))
        )
    late = await client.put(url, json=ADDRESS, headers=token)
    assert (late.status_code, late.json()["code"]) == (409, "deadline_passed")
    read = await client.get(f"/api/v1/orders/{order['id']}", headers=token)
    assert read.json()["shipping_address"]["city"] == "BERLIN"  # the refusal changed nothing


async def test_the_creator_lists_pages_and_filters_their_orders(
    client: httpx.AsyncClient, db: Database, make_campaign: MakeCampaign
) -> None:
    campaign_id = await make_campaign(ship_to=["US"], creator_id="carol")
    slug = await slug_of(db, campaign_id)
    for i in range(5):
        body = {**BODY, "shipping_address": ADDRESS, "referral_code": f"r{i}", "source": "tiktok"}
        body["phone"] = "+14155550100"
        body["sms_consent"] = i % 2 == 0
        assert (await place(client, slug, body)).status_code == 201
    async with db.unit_of_work() as uow:
        await uow.session.execute(
            update(Order).where(Order.buyer_number.in_([2, 4])).values(status="authorized")
        )
    carol = {"X-Test-Creator": "carol"}
    url = f"/api/v1/campaigns/{campaign_id}/orders"
    first = await client.get(url, params={"limit": 2}, headers=carol)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [o["buyer_number"] for o in page["items"]] == [1, 2]
    one = page["items"][0]
    assert one["email"] == "buyer@example.com"
    assert one["phone"] == "+14155550100"  # consent
    assert page["items"][1]["phone"] is None  # no consent: not shown
    assert one["shipping_address"]["postal_code"] == "62701"
    assert (one["referral_code"], one["source"], one["amount_cents"]) == ("r0", "tiktok", 2500)
    assert one["refunded_cents"] == 0
    rest = await client.get(url, params={"limit": 2, "cursor": page["next_cursor"]}, headers=carol)
    assert [o["buyer_number"] for o in rest.json()["items"]] == [3, 4]
    last = await client.get(
        url, params={"limit": 2, "cursor": rest.json()["next_cursor"]}, headers=carol
    )
    assert [o["buyer_number"] for o in last.json()["items"]] == [5]
    assert last.json()["next_cursor"] is None
    by_slug = await client.get(f"/api/v1/campaigns/{slug}/orders", headers=carol)
    assert len(by_slug.json()["items"]) == 5
    authorized = await client.get(url, params={"status": "authorized"}, headers=carol)
    assert [o["buyer_number"] for o in authorized.json()["items"]] == [2, 4]

    dave = await client.get(url, headers={"X-Test-Creator": "dave"})
    assert (dave.status_code, dave.json()["code"]) == (404, "campaign_not_found")
    nobody = await client.get(url)
    assert nobody.status_code == 401
    for params in ({"status": "lost"}, {"cursor": "!!"}, {"limit": 0}, {"limit": 501}):
        r = await client.get(url, params=params, headers=carol)
        assert r.status_code == 422, params
    for unknown in (str(uuid.uuid4()), "no-such-drop", "caf%C3%A9", "a%00b"):
        missing = await client.get(f"/api/v1/campaigns/{unknown}/orders", headers=carol)
        assert (missing.status_code, missing.json()["code"]) == (404, "campaign_not_found")


async def test_the_csv_has_the_same_rows_streamed_in_batches(
    client: httpx.AsyncClient,
    db: Database,
    make_campaign: MakeCampaign,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fulfilment_routes, "CSV_BATCH", 2)  # several batches from 5 orders
    campaign_id = await make_campaign(ship_to=["US"], creator_id="carol")
    slug = await slug_of(db, campaign_id)
    for i in range(5):
        address = {**ADDRESS, "name": "=cmd|' /C calc'!A0" if i == 0 else f"Buyer {i}"}
        assert (await place(client, slug, {**BODY, "shipping_address": address})).status_code == 201
    carol = {"X-Test-Creator": "carol"}
    r = await client.get(f"/api/v1/campaigns/{campaign_id}/orders.csv", headers=carol)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["buyer_number"] for row in rows] == ["1", "2", "3", "4", "5"]
    assert rows[0]["ship_name"] == "'=cmd|' /C calc'!A0"  # no formula for a spreadsheet
    assert rows[1]["ship_name"] == "Buyer 1"
    assert (rows[1]["email"], rows[1]["ship_postal_code"], rows[1]["amount_cents"]) == (
        "buyer@example.com",
        "62701",
        "2500",
    )
    other = await client.get(
        f"/api/v1/campaigns/{campaign_id}/orders.csv", headers={"X-Test-Creator": "dave"}
    )
    assert other.status_code == 404
    empty = await client.get(
        f"/api/v1/campaigns/{campaign_id}/orders.csv", params={"status": "captured"}, headers=carol
    )
    assert empty.text.strip() == ",".join(fulfilment_routes.CSV_COLUMNS)


async def test_the_phone_leaves_orders_only_with_sms_consent(
    client: httpx.AsyncClient, db: Database, make_campaign: MakeCampaign
) -> None:
    slug = await slug_of(db, await make_campaign())
    phone = "+14155550100"
    texted = (await place(client, slug, {**BODY, "phone": phone, "sms_consent": True})).json()
    silent = (await place(client, slug, {**BODY, "phone": phone})).json()
    for order in (texted, silent):
        async with db.unit_of_work() as uow:
            await handlers.on_payment_authorized(
                event(PaymentAuthorized, order_id=uuid.UUID(order["id"])), uow
            )
    async with db.sessions() as session:
        payloads = (await session.scalars(select(outbox_table.c.payload))).all()
    phones = {
        (type(e).__name__, str(e.order_id)): e.buyer_phone  # type: ignore[attr-defined]
        for e in map(parse_event, payloads)
        if isinstance(e, OrderPlaced | OrderConfirmed)
    }
    assert phones == {
        ("OrderPlaced", texted["id"]): phone,
        ("OrderConfirmed", texted["id"]): phone,
        ("OrderPlaced", silent["id"]): None,
        ("OrderConfirmed", silent["id"]): None,
    }
