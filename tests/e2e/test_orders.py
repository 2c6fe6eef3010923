"""Orders through the gateway: a buyer cancels; the counter goes down and the hold is
released at the Stripe emulator (PaymentReleased -> PaymentIntent `canceled`)."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import stripe
from dropwave_devstack.postgres import to_asyncpg_dsn
from dropwave_devstack.stack import DevStack

from .conftest import Eventually, not_open_yet

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def publish_campaign(stack: DevStack, api: httpx.Client, creator: str, **rules: Any) -> str:
    """A published campaign's slug."""
    auth = {"Authorization": f"Bearer {stack.mint_token(creator)}"}
    body = {
        "title": f"Oak phone stand {uuid.uuid4().hex[:6]}",
        "price_cents": 1500,
        "currency": "usd",
        "min_orders": 5,
        "deadline": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
        **rules,
    }
    created = api.post("/api/v1/campaigns", headers=auth, json=body)
    assert created.status_code == 201, created.text
    campaign = created.json()
    published = api.post(f"/api/v1/campaigns/{campaign['id']}/publish", headers=auth)
    assert published.status_code == 200, published.text
    slug: str = campaign["slug"]
    return slug


def payment_intent_of(stack: DevStack, order_id: str) -> str | None:
    """The PaymentIntent payments created for an order (read from payments' own table)."""
    import asyncpg  # type: ignore[import-untyped]

    async def read() -> str | None:
        conn = await asyncpg.connect(to_asyncpg_dsn(stack.database_url("payments")))
        try:
            value: str | None = await conn.fetchval(
                "SELECT payment_intent_id FROM payments WHERE order_id = $1", uuid.UUID(order_id)
            )
            return value
        finally:
            await conn.close()

    return asyncio.run(read())


def test_buyer_cancels_counter_drops_and_hold_is_released(
    stack: DevStack, api: httpx.Client, eventually: Eventually
) -> None:
    slug = publish_campaign(stack, api, "creator-orders-1")
    body = {
        "email": f"buyer-{uuid.uuid4().hex[:8]}@example.com",
        "payment_method_id": "pm_card_visa",
    }

    def place() -> httpx.Response | None:
        r = api.post(
            f"/api/v1/campaigns/{slug}/orders",
            headers={"Idempotency-Key": f"cancel-{slug}"},
            json=body,
        )
        return None if not_open_yet(r) else r

    order = eventually(place, "orders to learn of the campaign").json()
    token = {"X-Order-Token": order["order_token"]}
    eventually(
        lambda: (
            api.get(f"/api/v1/orders/{order['id']}", headers=token).json()["status"] == "authorized"
        ),
        "the order to be authorized",
    )
    eventually(
        lambda: api.get(f"/api/v1/campaigns/{slug}").json()["current_orders"] == 1,
        "the campaign to count the order",
    )

    wrong = api.post(f"/api/v1/orders/{order['id']}/cancel", headers={"X-Order-Token": "0" * 64})
    assert wrong.status_code == 404
    cancelled = api.post(f"/api/v1/orders/{order['id']}/cancel", headers=token)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["buyer_number"] == order["buyer_number"]

    eventually(
        lambda: api.get(f"/api/v1/campaigns/{slug}").json()["current_orders"] == 0,
        "the campaign to uncount the cancelled order",
    )
    intent_id = payment_intent_of(stack, order["id"])
    assert intent_id is not None
    client = stripe.StripeClient(
        stack.stripe_secret_key, base_addresses={"api": stack.stripe_api_base}
    )
    eventually(
        lambda: client.v1.payment_intents.retrieve(intent_id).status == "canceled",
        "payments to release the hold (PaymentIntent canceled)",
    )

    again = api.post(f"/api/v1/orders/{order['id']}/cancel", headers=token)
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["code"] == "order_not_cancellable"
    # The number is never reused: the next buyer gets the next one.
    other = {**body, "email": f"buyer-{uuid.uuid4().hex[:8]}@example.com"}
    nxt = api.post(
        f"/api/v1/campaigns/{slug}/orders",
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json=other,
    )
    assert nxt.status_code == 201, nxt.text
    assert nxt.json()["buyer_number"] == order["buyer_number"] + 1


def test_an_order_on_a_draft_is_a_409_and_changes_nothing(
    stack: DevStack, api: httpx.Client, eventually: Eventually
) -> None:
    auth = {"Authorization": f"Bearer {stack.mint_token('creator-orders-draft')}"}
    draft = api.post(
        "/api/v1/campaigns",
        headers=auth,
        json={
            "title": f"Draft lamp {uuid.uuid4().hex[:6]}",
            "price_cents": 1500,
            "currency": "usd",
            "min_orders": 5,
            "deadline": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
        },
    ).json()
    body = {"email": "early@example.com", "payment_method_id": "pm_card_visa"}

    def place(key: str) -> httpx.Response:
        return api.post(
            f"/api/v1/campaigns/{draft['slug']}/orders",
            headers={"Idempotency-Key": key},
            json=body,
        )

    refused = eventually(
        lambda: (r := place("too-early")).status_code == 409 and r,
        "orders to learn of the draft (CampaignCreated)",
    )
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "campaign_not_published"

    published = api.post(f"/api/v1/campaigns/{draft['id']}/publish", headers=auth)
    assert published.status_code == 200, published.text
    first = eventually(
        lambda: (r := place(str(uuid.uuid4()))).status_code == 201 and r,
        "orders to learn of the publish",
    )
    assert first.json()["buyer_number"] == 1  # the refused attempt took no number
    replay = place("too-early")  # the refused key placed nothing: it is free to use now
    assert replay.status_code == 201
    assert replay.json()["buyer_number"] == 2
