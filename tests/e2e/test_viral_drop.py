"""A viral drop through the gateway: 2,000 concurrent orders on one campaign.

Every request is answered without a 5xx, every order gets its own buyer number (exactly
1..2000), and once payments has worked through them the campaign's `current_orders` equals
the number of authorized orders."""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from dropwave_devstack.stack import DevStack

from .conftest import Eventually, not_open_yet
from .test_orders import publish_campaign

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(360)]

ORDERS = 2000
IN_FLIGHT = 200


def clients(base_url: str) -> list[httpx.AsyncClient]:
    """200 in flight over 20 clients of 10 connections: one httpx client's pool slows down
    badly with its size (one client with 200 connections: ~80 requests/s here; 20 x 10:
    ~500/s), which would measure the test's client instead of the system."""
    limits = httpx.Limits(max_connections=10, max_keepalive_connections=10)
    return [httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) for _ in range(20)]


async def place_all(base_url: str, slug: str, keys: list[str]) -> list[httpx.Response]:
    pool = clients(base_url)
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def place(i: int, key: str) -> httpx.Response:
        async with gate:
            return await pool[i % len(pool)].post(
                f"/api/v1/campaigns/{slug}/orders",
                headers={"Idempotency-Key": key},
                json={"email": f"fan-{i}@example.com", "payment_method_id": "pm_card_visa"},
            )

    try:
        return await asyncio.wait_for(
            asyncio.gather(*(place(i, k) for i, k in enumerate(keys))), timeout=90
        )
    finally:
        for client in pool:
            await client.aclose()


async def statuses(base_url: str, orders: list[dict[str, Any]]) -> list[str]:
    pool = clients(base_url)
    gate = asyncio.Semaphore(100)

    async def status(i: int, order: dict[str, Any]) -> str:
        url = f"/api/v1/orders/{order['id']}"
        headers = {"X-Order-Token": order["order_token"]}
        async with gate:
            try:
                r = await pool[i % len(pool)].get(url, headers=headers)
            except httpx.TransportError:  # a keep-alive connection closed under us: once more
                r = await pool[i % len(pool)].get(url, headers=headers)
            assert r.status_code == 200, r.text
            value: str = r.json()["status"]
            return value

    try:
        return await asyncio.gather(*(status(i, o) for i, o in enumerate(orders)))
    finally:
        for client in pool:
            await client.aclose()


def test_two_thousand_concurrent_orders_on_one_campaign(
    stack: DevStack, api: httpx.Client, eventually: Eventually
) -> None:
    started = time.monotonic()
    slug = publish_campaign(
        stack,
        api,
        "creator-viral",
        min_orders=1000,
        deadline=(datetime.now(UTC) + timedelta(days=1)).isoformat(),
    )
    keys = [str(uuid.uuid4()) for _ in range(ORDERS)]

    def first() -> httpx.Response | None:  # orders learns of the campaign by event
        r = api.post(
            f"/api/v1/campaigns/{slug}/orders",
            headers={"Idempotency-Key": keys[0]},
            json={"email": "fan-0@example.com", "payment_method_id": "pm_card_visa"},
        )
        return None if not_open_yet(r) else r

    assert eventually(first, "orders to learn of the campaign").status_code == 201
    responses = asyncio.run(place_all(stack.base_url, slug, keys))
    print(f"placed {ORDERS} orders in {time.monotonic() - started:.1f}s")

    codes = sorted({r.status_code for r in responses})
    assert all(r.status_code < 500 for r in responses), codes
    assert all(r.status_code in (200, 201) for r in responses), codes  # keys[0]: a replay
    orders = [r.json() for r in responses]
    assert len({o["id"] for o in orders}) == ORDERS
    assert sorted(o["buyer_number"] for o in orders) == list(range(1, ORDERS + 1))

    placed_at = time.monotonic()
    final: dict[str, str] = {}
    waiting = orders
    while waiting and time.monotonic() - placed_at < 240:  # poll only the unsettled ones
        current = asyncio.run(statuses(stack.base_url, waiting))
        final.update({o["id"]: st for o, st in zip(waiting, current, strict=True)})
        waiting = [o for o, st in zip(waiting, current, strict=True) if st == "pending"]
        if waiting:
            time.sleep(1)
    assert not waiting, f"{len(waiting)} orders still pending after 240 s"
    authorized = list(final.values()).count("authorized")
    assert authorized == ORDERS  # pm_card_visa: every hold succeeds
    eventually(
        lambda: api.get(f"/api/v1/campaigns/{slug}").json()["current_orders"] == authorized,
        "current_orders to equal the authorized orders",
        60,
    )
    print(f"settled and counted {time.monotonic() - placed_at:.1f}s after placing")
