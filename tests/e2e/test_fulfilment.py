"""Fulfilment through the gateway on the embedded stack: a campaign shipping to the US and
Germany, 1,000 orders with addresses, the buyer changing one, the creator listing them (keyset
pages, a status filter) and exporting them as CSV; another creator and no token get nothing."""

import asyncio
import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from dropwave_devstack.stack import DevStack

from .conftest import Eventually, not_open_yet, post_order
from .test_orders import publish_campaign
from .test_viral_drop import clients

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(480)]

ORDERS = 1000
IN_FLIGHT = 100
US = {
    "name": "Ada Lovelace",
    "street_address": "1 Main St",
    "city": "Springfield",
    "country_area": "IL",
    "postal_code": "62701",
    "country_code": "US",
}
DE = {
    "name": "Grace Hopper",
    "street_address": "Hauptstr. 1",
    "city": "Berlin",
    "postal_code": "10115",
    "country_code": "DE",
}


def order_body(i: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": f"shipper-{i}@example.com",
        "payment_method_id": "pm_card_visa",
        "shipping_address": {**(US if i % 2 else DE), "name": f"Buyer {i}"},
        "referral_code": f"ref-{i % 3}",
        "source": "tiktok",
    }
    if i % 10 == 0:
        body |= {"phone": "+14155550100", "sms_consent": i % 20 == 0}
    return body


async def place_rest(base_url: str, slug: str, first: int) -> list[httpx.Response]:
    pool = clients(base_url)
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def place(i: int) -> httpx.Response:
        async with gate:
            return await post_order(
                pool[i % len(pool)],
                f"/api/v1/campaigns/{slug}/orders",
                str(uuid.uuid4()),
                order_body(i),
            )

    try:
        return await asyncio.wait_for(
            asyncio.gather(*(place(i) for i in range(first, ORDERS))), timeout=120
        )
    finally:
        for client in pool:
            await client.aclose()


def test_a_shipping_drop_from_orders_to_the_creators_csv(
    stack: DevStack, api: httpx.Client, eventually: Eventually
) -> None:
    owner = f"creator-ships-{uuid.uuid4().hex[:6]}"
    slug = publish_campaign(
        stack,
        api,
        owner,
        ship_to_countries=["US", "DE"],
        deadline=(datetime.now(UTC) + timedelta(days=1)).isoformat(),
    )
    campaign_id = api.get(f"/api/v1/campaigns/{slug}").json()["id"]
    assert api.get(f"/api/v1/campaigns/{slug}").json()["ship_to_countries"] == ["US", "DE"]
    url = f"/api/v1/campaigns/{slug}/orders"

    def first() -> httpx.Response | None:  # orders learns of the campaign by event
        r = api.post(url, headers={"Idempotency-Key": "first"}, json=order_body(0))
        return None if not_open_yet(r) else r

    placed = eventually(first, "orders to learn of the campaign")
    assert placed.status_code == 201, placed.text
    buyer = placed.json()
    assert buyer["shipping_address"]["city"] == "BERLIN"

    # Bad input: a 4xx problem, no buyer number taken.
    for address, code in (
        (None, "shipping_address_required"),
        ({**US, "country_code": "FR"}, "country_not_shipped"),
        ({**US, "postal_code": "1"}, "shipping_address_invalid"),
    ):
        body = {**order_body(1), "shipping_address": address}
        r = api.post(url, headers={"Idempotency-Key": str(uuid.uuid4())}, json=body)
        assert (r.status_code, r.json()["code"]) == (422, code), r.text

    responses = asyncio.run(place_rest(stack.base_url, slug, 1))
    assert {r.status_code for r in responses} == {201}, {r.status_code for r in responses}
    orders = [buyer, *(r.json() for r in responses)]
    assert sorted(o["buyer_number"] for o in orders) == list(range(1, ORDERS + 1))

    # The buyer changes the address (order token) and reads it back.
    token = {"X-Order-Token": buyer["order_token"]}
    moved = api.put(f"/api/v1/orders/{buyer['id']}/shipping-address", json=US, headers=token)
    assert moved.status_code == 200, moved.text
    read = api.get(f"/api/v1/orders/{buyer['id']}", headers=token).json()
    assert read["shipping_address"]["postal_code"] == "62701"

    # Three buyers cancel: the status filter finds exactly them.
    by_number = {o["buyer_number"]: o for o in orders}
    for n in (2, 3, 4):
        o = by_number[n]
        own = {"X-Order-Token": o["order_token"]}
        r = api.post(f"/api/v1/orders/{o['id']}/cancel", headers=own)
        assert r.status_code == 200, r.text

    creator = {"Authorization": f"Bearer {stack.mint_token(owner)}"}
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 300} | ({"cursor": cursor} if cursor else {})
        page = api.get(f"/api/v1/campaigns/{campaign_id}/orders", params=params, headers=creator)
        assert page.status_code == 200, page.text
        seen += page.json()["items"]
        pages += 1
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert pages == 4
    assert [o["buyer_number"] for o in seen] == list(range(1, ORDERS + 1))
    one = seen[0]
    assert (one["email"], one["phone"], one["referral_code"]) == (
        "shipper-0@example.com",
        "+14155550100",  # buyer 0 agreed to SMS
        "ref-0",
    )
    assert one["shipping_address"]["postal_code"] == "62701"  # as changed
    by_email = {o["email"]: o for o in seen}
    assert by_email["shipper-10@example.com"]["phone"] is None  # no SMS consent: not shown
    assert by_email["shipper-20@example.com"]["phone"] == "+14155550100"
    cancelled = api.get(url, params={"status": "cancelled"}, headers=creator).json()
    assert [o["buyer_number"] for o in cancelled["items"]] == [2, 3, 4]

    export = api.get(f"/api/v1/campaigns/{campaign_id}/orders.csv", headers=creator, timeout=60)
    assert export.status_code == 200, export.text
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [int(r["buyer_number"]) for r in rows] == list(range(1, ORDERS + 1))
    assert {r["ship_country_code"] for r in rows} == {"US", "DE"}
    by_email_csv = {r["email"]: r for r in rows}
    assert by_email_csv["shipper-999@example.com"]["ship_name"] == "Buyer 999"
    assert by_email_csv["shipper-998@example.com"]["ship_postal_code"] == "10115"
    assert {r["status"] for r in rows[1:4]} == {"cancelled"}

    stranger = {"Authorization": f"Bearer {stack.mint_token('creator-not-the-owner')}"}
    for path in (f"/api/v1/campaigns/{campaign_id}/orders", export.request.url.path):
        other = api.get(path, headers=stranger)
        assert (other.status_code, other.json()["code"]) == (404, "campaign_not_found")
        assert api.get(path).status_code == 401
        assert api.get(path, headers={"Authorization": "Bearer junk"}).status_code == 401

    # Nothing left behind for the next module: payments works through the 1,000
    # authorizations here (its backlog would hold up the next drops' orders).
    def none_pending() -> bool:
        page = api.get(url, params={"status": "pending", "limit": 1}, headers=creator)
        return page.status_code == 200 and page.json()["items"] == []

    eventually(none_pending, "payments to work through the 1,000 authorizations", 240)
