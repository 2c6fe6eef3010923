"""Issue 10, no 5xx for bad input: every request that is the client's fault is a 4xx problem
with a stable code that changes nothing, through the gateway. Each case here was a 500.
(Bad campaign bodies are in test_campaign_lifecycle.py's BAD_CREATES and bad edits.)"""

import base64
import uuid
from typing import Any

import httpx
import pytest
from dropwave_devstack.stack import DevStack

from .conftest import Eventually, not_open_yet
from .test_campaign_lifecycle import assert_problem, auth, draft_body, mine, new_creator
from .test_orders import publish_campaign

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def raw_cursor(text: str) -> str:
    """A cursor that decodes to `text` (ours are opaque base64url of `<time>|<id>`)."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


NONSENSE_TIMES = [
    "2031-01-01T00:00:00+00:00|99999999999999999999",  # id beyond 64 bits
    "9999-12-31T23:59:59-14:00|1",  # overflows on the way to UTC
    "0001-01-01T00:00:00+14:00|1",
]


def place_order(api: httpx.Client, slug: str, eventually: Eventually) -> dict[str, Any]:
    def attempt() -> dict[str, Any] | None:
        r = api.post(
            f"/api/v1/campaigns/{slug}/orders",
            headers={"Idempotency-Key": str(uuid.uuid4())},
            json={"email": "buyer@example.com", "payment_method_id": "pm_card_visa"},
        )
        if not_open_yet(r):
            return None
        assert r.status_code == 201, r.text
        order: dict[str, Any] = r.json()
        return order

    placed: dict[str, Any] = eventually(attempt, "orders to open the campaign")
    return placed


def test_order_tokens_that_are_not_ascii_are_404s_that_change_nothing(
    stack: DevStack, api: httpx.Client, eventually: Eventually
) -> None:
    order = place_order(api, publish_campaign(stack, api, new_creator()), eventually)
    oid = order["id"]
    for token in ("é", "\u202e", order["order_token"][:-1] + "ü"):
        for r in (
            api.get(f"/api/v1/orders/{oid}", params={"token": token}),
            api.get(f"/api/v1/orders/{oid}", headers={"X-Order-Token": token.encode()}),
            api.post(f"/api/v1/orders/{oid}/cancel", params={"token": token}),
            api.post(f"/api/v1/orders/{oid}/cancel", headers={"X-Order-Token": token.encode()}),
        ):
            assert_problem(r, 404, "order_not_found")
    assert_problem(api.get(f"/api/v1/orders/{oid}", params={"token": "a" * 129}), 422)
    mine_now = api.get(f"/api/v1/orders/{oid}", headers={"X-Order-Token": order["order_token"]})
    assert mine_now.status_code == 200, mine_now.text
    assert mine_now.json()["status"] != "cancelled"


def test_activity_cursors_and_last_event_ids_out_of_range_are_400s(
    stack: DevStack, api: httpx.Client
) -> None:
    slug = publish_campaign(stack, api, new_creator())
    for text in NONSENSE_TIMES:
        cursor = raw_cursor(text)
        feed = api.get(f"/api/v1/campaigns/{slug}/activity", params={"cursor": cursor})
        assert_problem(feed, 400, "bad_cursor")
        live = api.get(f"/api/v1/campaigns/{slug}/live", headers={"Last-Event-ID": cursor})
        assert_problem(live, 400, "bad_cursor")


def test_listing_cursors_that_decode_to_nonsense_are_422s(
    stack: DevStack, api: httpx.Client
) -> None:
    who = auth(stack, new_creator())
    for text in (
        f"9999-12-31T23:59:59-14:00|{uuid.uuid4()}",
        f"0001-01-01T00:00:00+14:00|{uuid.uuid4()}",
        "2031-01-01T00:00:00+00:00|not-a-uuid",
        "\x00|\x00",
    ):
        r = api.get(
            "/api/v1/campaigns", params={"mine": "true", "cursor": raw_cursor(text)}, headers=who
        )
        assert_problem(r, 422, "bad_cursor")


def test_slugs_with_nul_are_404s(stack: DevStack, api: httpx.Client) -> None:
    assert_problem(api.get("/api/v1/campaigns/walnut%00desk"), 404, "campaign_not_found")
    order = api.post(
        "/api/v1/campaigns/walnut%00desk/orders",
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json={"email": "buyer@example.com"},
    )
    assert_problem(order, 404, "campaign_not_found")
    for path in ("activity", "live"):
        assert_problem(api.get(f"/api/v1/campaigns/walnut%00desk/{path}"), 422)
    for path in ("views", "shares"):
        assert_problem(api.post(f"/api/v1/campaigns/walnut%00desk/{path}"), 422)


def test_plain_text_and_supported_currencies_are_accepted(
    stack: DevStack, api: httpx.Client
) -> None:
    """The bounds refuse junk, not text: several lines in a description, any script, a
    zero-decimal and a three-decimal currency Stripe supports."""
    who = auth(stack, new_creator())
    for body in (
        draft_body(title="Café — שלום 日本語", description="Line one\n\tLine two", currency="eur"),
        draft_body(currency="jpy", price_cents=5000),
        draft_body(currency="kwd", price_cents=1230),
    ):
        created = api.post("/api/v1/campaigns", headers=who, json=body)
        assert created.status_code == 201, created.text
        assert {k: created.json()[k] for k in ("title", "description", "currency")} == {
            k: body.get(k, "") for k in ("title", "description", "currency")
        }
    assert len(mine(api, who)["items"]) == 3
