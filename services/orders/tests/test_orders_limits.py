"""Order placement's own limits: orders per client address and per buyer email, and the
card-testing lockout after repeated declines (in-process ASGI on a real PostgreSQL)."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from dropwave_contracts.events import PaymentFailed
from dropwave_runtime.db import Database
from fastapi import FastAPI
from orders import abuse, handlers
from orders.bootstrap import bootstrap
from orders.models import Order
from orders.settings import Settings
from sqlalchemy import select

from .conftest import AUTH, MakeCampaign
from .test_orders_routes import slug_of

POLICY = abuse.DeclinePolicy(threshold=3, window_s=3600, lockout_s=1800)


@pytest.fixture
async def app(db_url: str) -> AsyncIterator[FastAPI]:
    settings = Settings(
        database_url=db_url,
        kafka_bootstrap_servers="127.0.0.1:1",
        order_token_secret="test-order-secret",
        **AUTH,
        rate_limits={"order_per_email": "3/hour", "order_per_ip": "4/hour"},
        decline_lockout_threshold=POLICY.threshold,
        decline_lockout_s=POLICY.lockout_s,
    )
    application = bootstrap(settings)
    yield application
    await application.state.runtime.db.dispose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # The test client is the gateway (127.0.0.1, trusted): X-Forwarded-For names the buyer.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://orders") as c:
        yield c


async def order(client: httpx.AsyncClient, slug: str, email: str, ip: str) -> httpx.Response:
    return await client.post(
        f"/api/v1/campaigns/{slug}/orders",
        headers={"Idempotency-Key": str(uuid.uuid4()), "X-Forwarded-For": ip},
        json={"email": email, "payment_method_id": "pm_card_visa"},
    )


def codes(responses: list[httpx.Response]) -> list[Any]:
    return [(r.status_code, r.json().get("code")) for r in responses]


async def test_orders_are_limited_per_email_and_per_address(
    client: httpx.AsyncClient, db: Database, make_campaign: MakeCampaign
) -> None:
    slug = await slug_of(db, await make_campaign())
    a, b = "198.51.100.1", "198.51.100.2"
    first = [await order(client, slug, "ann@example.com", a) for _ in range(3)]
    assert [r.status_code for r in first] == [201] * 3
    again = await order(client, slug, "ANN@example.com", b)  # the same buyer, elsewhere
    assert (again.status_code, again.json()["code"]) == (429, "rate_limited")
    assert int(again.headers["Retry-After"]) > 0
    assert (await order(client, slug, "bob@example.com", a)).status_code == 201
    crowded = await order(client, slug, "cat@example.com", a)  # a's 4th order this hour
    assert (crowded.status_code, crowded.json()["code"]) == (429, "rate_limited")
    assert (await order(client, slug, "cat@example.com", b)).status_code == 201
    async with db.sessions() as session:
        ips = sorted((await session.scalars(select(Order.client_ip))).all())
    assert ips == [a, a, a, a, b]  # kept on the order, for declines


async def decline(db: Database, placed: httpx.Response, failure_code: str) -> None:
    body = placed.json()
    event = PaymentFailed(
        producer="payments",
        correlation_id=str(uuid.uuid4()),
        campaign_id=body["campaign_id"],
        order_id=body["id"],
        payment_intent_id=None,
        failure_code=failure_code,
        decline_code="generic_decline" if failure_code == "card_declined" else None,
        message="declined",
    )
    async with db.unit_of_work() as uow:
        await handlers.on_payment_failed(event, uow, POLICY)


async def test_repeated_card_declines_lock_out_the_address_and_the_email(
    app: FastAPI, client: httpx.AsyncClient, db: Database, make_campaign: MakeCampaign
) -> None:
    slug = await slug_of(db, await make_campaign())
    tester, outage, elsewhere = "203.0.113.5", "203.0.113.6", "203.0.113.7"
    lockouts: abuse.Lockouts = app.state.deps["lockouts"]
    # A card tester: one address, a fresh email each time, every card declined.
    tries = [await order(client, slug, f"t{i}@example.com", tester) for i in range(3)]
    assert [r.status_code for r in tries] == [201] * 3
    for placed in tries[:2]:
        await decline(db, placed, "card_declined")
    await lockouts.reload(db)
    assert (await order(client, slug, "t9@example.com", tester)).status_code == 201  # 2 < 3
    await decline(db, tries[2], "card_declined")
    # Failures that are not declines (an outage) count for nothing.
    for i in range(3):
        placed = await order(client, slug, f"o{i}@example.com", outage)
        await decline(db, placed, "authorization_unavailable")
    await lockouts.reload(db)  # what every instance does each RATE_LIMIT_SYNC_S
    refused = await order(client, slug, "new@example.com", tester)
    assert (refused.status_code, refused.json()["code"]) == (429, "too_many_declines")
    assert 1700 < int(refused.headers["Retry-After"]) <= 1800
    assert (await order(client, slug, "o9@example.com", outage)).status_code == 201
    # Each email was declined once only: its buyer may order from another address.
    assert (await order(client, slug, "t0@example.com", elsewhere)).status_code == 201


async def test_repeated_declines_of_one_email_lock_it_out_everywhere(
    app: FastAPI, client: httpx.AsyncClient, db: Database, make_campaign: MakeCampaign
) -> None:
    slug = await slug_of(db, await make_campaign())
    placed = [
        await order(client, slug, "card.tester@example.com", f"192.0.2.{i}") for i in range(2)
    ]
    placed.append(await order(client, slug, "Card.Tester@example.com", "192.0.2.3"))
    for p in placed:
        assert p.status_code == 201, p.text
        await decline(db, p, "incorrect_cvc")
    await app.state.deps["lockouts"].reload(db)
    refused = await order(client, slug, "card.tester@example.com", "192.0.2.200")
    assert codes([refused]) == [(429, "too_many_declines")]
    assert (await order(client, slug, "honest@example.com", "192.0.2.1")).status_code == 201
