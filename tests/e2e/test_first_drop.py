"""The first drop, end to end: four service processes behind the gateway, real PostgreSQL,
a real Kafka-protocol broker, the Stripe emulator and an SMTP sink."""

import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from dropwave_devstack.stack import DevStack

from .conftest import Eventually, not_open_yet

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_first_drop(stack: DevStack, api: httpx.Client, eventually: Eventually) -> None:
    creator = {"Authorization": f"Bearer {stack.mint_token('creator-1')}"}
    title = f"Walnut desk organiser {uuid.uuid4().hex[:6]}"
    created = api.post(
        "/api/v1/campaigns",
        headers=creator,
        json={
            "title": title,
            "price_cents": 2500,
            "currency": "usd",
            "min_orders": 5,
            "deadline": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert campaign["status"] == "draft"

    published = api.post(f"/api/v1/campaigns/{campaign['id']}/publish", headers=creator)
    assert published.status_code == 200, published.text
    slug = campaign["slug"]

    buyer = f"buyer-{uuid.uuid4().hex[:8]}@example.com"  # the stack is shared: be unique
    order_body = {"email": buyer, "payment_method_id": "pm_card_visa"}
    key = {"Idempotency-Key": str(uuid.uuid4())}

    def place() -> httpx.Response | None:
        r = api.post(f"/api/v1/campaigns/{slug}/orders", headers=key, json=order_body)
        return None if not_open_yet(r) else r

    placed = eventually(place, "orders to learn of the published campaign")
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["buyer_number"] == 1
    token = {"X-Order-Token": order["order_token"]}

    def authorized() -> dict[str, Any] | None:
        body: dict[str, Any] = api.get(f"/api/v1/orders/{order['id']}", headers=token).json()
        return body if body["status"] == "authorized" else None

    confirmed = eventually(authorized, "the order to be authorized")
    assert confirmed["buyer_number"] == 1
    assert confirmed["amount_cents"] == 2500

    def counted() -> dict[str, Any] | None:
        body: dict[str, Any] = api.get(f"/api/v1/campaigns/{slug}").json()
        return body if body["current_orders"] == 1 else None

    view = eventually(counted, "the campaign to count the order")
    assert view["status"] == "active"
    assert view["min_orders"] == 5

    def mail() -> EmailMessage | None:
        assert stack.smtp is not None
        return next((m for m in stack.smtp.messages() if m["To"] == buyer), None)

    message = eventually(mail, "the confirmation email")
    assert "#1" in message["Subject"]
    text_part = message.get_body(("plain",))
    assert text_part is not None
    text = text_part.get_content()
    assert title in text
    assert "5" in text


def test_gateway_answers_problems_for_bad_input(stack: DevStack, api: httpx.Client) -> None:
    creator = {"Authorization": f"Bearer {stack.mint_token('creator-2')}"}
    bad = api.post("/api/v1/campaigns", headers=creator, json={"title": "<b>x</b>"})
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["code"] == "validation_error"
    assert api.post("/api/v1/campaigns", json={}).status_code == 401
    missing = api.post("/api/v1/campaigns/nope/orders", json={"email": "a@b.co"})
    assert missing.status_code == 422  # Idempotency-Key is required
