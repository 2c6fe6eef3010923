"""A campaign's life through the gateway: create, edit, publish, cancel, list; every bad input
a 4xx problem that changes nothing; rules locked after publish; the deadline scheduler closing
campaigns as successful or failed (the e2e stack runs with MIN_CAMPAIGN_DURATION_S=0)."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from campaigns.css import CONTAINMENT
from dropwave_devstack.stack import DevStack

from .conftest import Eventually, not_open_yet

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def auth(stack: DevStack, creator: str) -> dict[str, str]:
    """A creator's bearer token signed by this stack's dev OIDC issuer."""
    return {"Authorization": f"Bearer {stack.mint_token(creator)}"}


def new_creator() -> str:
    return f"creator-{uuid.uuid4().hex[:10]}"


def draft_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": f"Lifecycle drop {uuid.uuid4().hex[:6]}",
        "price_cents": 2500,
        "currency": "usd",
        "min_orders": 5,
        "deadline": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
    }
    body.update(overrides)
    return body


def mine(api: httpx.Client, who: dict[str, str], **params: Any) -> dict[str, Any]:
    r = api.get("/api/v1/campaigns", params={"mine": "true", **params}, headers=who)
    assert r.status_code == 200, r.text
    page: dict[str, Any] = r.json()
    return page


def assert_problem(r: httpx.Response, status: int, code: str | None = None) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    if code is not None:
        assert r.json()["code"] == code, r.text


def test_create_edit_publish_cancel_list(
    stack: DevStack, api: httpx.Client, eventually: Eventually
) -> None:
    alice, mallory = auth(stack, new_creator()), auth(stack, new_creator())
    css = "body { color: #222 } h1 { width: expression(alert(1)) } @import 'x.css';"
    created = api.post(
        "/api/v1/campaigns",
        headers=alice,
        json=draft_body(
            images=["https://img.example.com/a.jpg"],
            theme={"custom_css": css, "accent_color": "#ff8800"},
        ),
    )
    assert created.status_code == 201, created.text
    campaign = created.json()
    cid, slug = campaign["id"], campaign["slug"]
    assert campaign["status"] == "draft"
    assert campaign["images"] == ["https://img.example.com/a.jpg"]
    assert campaign["theme"] == {
        "custom_css": f"{CONTAINMENT}\n.user-content {{ color: #222 }}",
        "accent_color": "#ff8800",
    }
    assert_problem(api.get(f"/api/v1/campaigns/{slug}"), 404, "campaign_not_found")
    assert [c["id"] for c in mine(api, alice)["items"]] == [cid]
    assert mine(api, mallory)["items"] == []

    edited = api.patch(
        f"/api/v1/campaigns/{cid}",
        headers=alice,
        json={"title": "Walnut organiser v2", "price_cents": 3000, "min_orders": 6},
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["price_cents"], edited.json()["min_orders"]) == (3000, 6)
    assert_problem(
        api.patch(f"/api/v1/campaigns/{cid}", headers=mallory, json={"title": "Mine now"}),
        403,
        "not_owner",
    )
    assert_problem(api.post(f"/api/v1/campaigns/{cid}/publish", headers=mallory), 403)

    published = api.post(f"/api/v1/campaigns/{cid}/publish", headers=alice)
    assert published.status_code == 200, published.text
    public = api.get(f"/api/v1/campaigns/{slug}").json()
    assert (public["status"], public["title"], public["price_cents"]) == (
        "active",
        "Walnut organiser v2",
        3000,
    )

    for rules in (
        {"price_cents": 100},
        {"min_orders": 5},
        {"currency": "eur"},
        {"deadline": (datetime.now(UTC) + timedelta(days=9)).isoformat()},
        {"title": "Sneaky", "price_cents": 100},
    ):
        locked = api.patch(f"/api/v1/campaigns/{cid}", headers=alice, json=rules)
        assert_problem(locked, 409, "rules_locked")
    assert api.get(f"/api/v1/campaigns/{slug}").json() == public  # nothing changed
    retitled = api.patch(
        f"/api/v1/campaigns/{cid}", headers=alice, json={"title": "Walnut organiser v3"}
    )
    assert retitled.status_code == 200, retitled.text
    assert_problem(api.post(f"/api/v1/campaigns/{cid}/publish", headers=alice), 409, "not_draft")

    assert_problem(api.post(f"/api/v1/campaigns/{cid}/cancel", headers=mallory), 403)
    cancelled = api.post(
        f"/api/v1/campaigns/{cid}/cancel", headers=alice, json={"reason": "supplier let us down"}
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancelled_at"] is not None
    assert api.get(f"/api/v1/campaigns/{slug}").json()["status"] == "cancelled"
    assert_problem(
        api.post(f"/api/v1/campaigns/{cid}/cancel", headers=alice), 409, "not_cancellable"
    )
    assert_problem(
        api.patch(f"/api/v1/campaigns/{cid}", headers=alice, json={"title": "Back"}),
        409,
        "campaign_closed",
    )

    def order_refused() -> bool:
        r = api.post(
            f"/api/v1/campaigns/{slug}/orders",
            headers={"Idempotency-Key": str(uuid.uuid4())},
            json={"email": "buyer@example.com", "payment_method_id": "pm_card_visa"},
        )
        return r.status_code == 409

    eventually(order_refused, "orders to refuse orders on the cancelled campaign", 30)


def test_listing_is_paginated(stack: DevStack, api: httpx.Client) -> None:
    bob = auth(stack, new_creator())
    ids = []
    for _ in range(5):
        r = api.post("/api/v1/campaigns", headers=bob, json=draft_body())
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    seen: list[str] = []
    cursor = None
    while True:
        page = mine(api, bob, limit=2, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= 2
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))  # newest first, each once
    assert mine(api, bob, status="draft", limit=100)["items"][0]["id"] == ids[-1]
    assert_problem(
        api.get("/api/v1/campaigns", params={"mine": "true", "cursor": "garbage"}, headers=bob),
        422,
        "bad_cursor",
    )
    assert_problem(api.get("/api/v1/campaigns", params={"mine": "false"}, headers=bob), 422)
    assert_problem(api.get("/api/v1/campaigns", params={"mine": "true"}), 401)


def _soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


BAD_CREATES: list[tuple[str, dict[str, Any]]] = [
    ("title empty", {"title": "   "}),
    ("title too long", {"title": "x" * 101}),
    ("title html", {"title": "<script>alert(1)</script>"}),
    ("description html", {"description": "<img src=x onerror=alert(1)>"}),
    ("price too low", {"price_cents": 99}),
    ("price too high", {"price_cents": 1_000_001}),
    ("min_orders too low", {"min_orders": 4}),
    ("min_orders too high", {"min_orders": 10_001}),
    ("deadline past", {"deadline": "2020-01-01T00:00:00Z"}),
    ("deadline naive", {"deadline": "2031-01-01T00:00:00"}),
    ("image http", {"images": ["http://img.example.com/a.jpg"]}),
    ("image javascript", {"images": ["javascript:alert(1)"]}),
    ("image data", {"images": ["data:image/png;base64,AAAA"]}),
    ("too many images", {"images": [f"https://img.example.com/{i}.jpg" for i in range(11)]}),
    ("image too long", {"images": ["https://img.example.com/" + "a" * 2100]}),
    ("unknown field", {"status": "active"}),
    ("theme unknown field", {"theme": {"custom_js": "alert(1)"}}),
    ("css too long", {"theme": {"custom_css": "p{color:red}" * 2000}}),
    ("bad accent", {"theme": {"accent_color": "red;background:url(x)"}}),
    ("bad currency", {"currency": "US"}),
    ("bad slug", {"slug": "../admin"}),
    # Issue 10: each of these was a 500 (or, for `xxx`, a campaign no order could pay for).
    ("title NUL", {"title": "Walnut\u0000desk"}),
    ("description NUL", {"description": "Solid\u0000walnut"}),
    ("title control", {"title": "Walnut \u001b[31mdesk"}),
    ("title CRLF", {"title": "Walnut\r\nBcc: victim@example.com"}),
    ("title bidi override", {"title": "Walnut \u202edesk"}),
    ("description bidi isolate", {"description": "Solid \u2067walnut"}),
    ("deadline year 9999 odd offset", {"deadline": "9999-12-31T23:59:59-01:30"}),
    ("deadline year 1", {"deadline": "0001-01-01T00:00:00+14:00"}),
    ("deadline far", {"deadline": "2100-01-01T00:00:00Z"}),
    ("css nested parentheses", {"theme": {"custom_css": "a { color: " + "(" * 5000 + " }"}}),
    ("css long number", {"theme": {"custom_css": "a { width: " + "9" * 5000 + "px }"}}),
    ("currency Stripe lacks", {"currency": "xxx"}),
    ("currency upper case", {"currency": "USD"}),
    ("three-decimal price", {"currency": "kwd", "price_cents": 1234}),
]


@pytest.mark.parametrize(("what", "bad"), BAD_CREATES, ids=[w for w, _ in BAD_CREATES])
def test_bad_create_is_a_problem_that_changes_nothing(
    stack: DevStack, api: httpx.Client, what: str, bad: dict[str, Any]
) -> None:
    carol = auth(stack, new_creator())
    r = api.post("/api/v1/campaigns", headers=carol, json=draft_body(**bad))
    assert r.status_code == 422, (what, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "Traceback" not in r.text
    assert mine(api, carol)["items"] == []


def test_bad_edits_change_nothing(stack: DevStack, api: httpx.Client) -> None:
    dan = auth(stack, new_creator())
    created = api.post("/api/v1/campaigns", headers=dan, json=draft_body())
    assert created.status_code == 201, created.text
    before = created.json()
    cid = before["id"]
    for bad in (
        {},
        {"title": None},
        {"title": "<b>bold</b>"},
        {"price_cents": 50},
        {"min_orders": 1},
        {"deadline": "2020-01-01T00:00:00Z"},
        {"images": ["ftp://img.example.com/a.jpg"]},
        {"slug": "new-slug"},
        {"title": "ok", "status": "active"},
        {"title": "x\u0000y"},
        {"description": "x\u0000y"},
        {"title": "x\u2066y"},
        {"deadline": "9999-12-31T23:00:00-01:30"},
        {"currency": "xxx"},
        {"theme": {"custom_css": "a { color: " + "(" * 5000 + " }"}},
    ):
        r = api.patch(f"/api/v1/campaigns/{cid}", headers=dan, json=bad)
        assert_problem(r, 422)
    assert_problem(
        api.patch(f"/api/v1/campaigns/{uuid.uuid4()}", headers=dan, json={"title": "x"}), 404
    )
    assert_problem(api.patch("/api/v1/campaigns/not-a-uuid", headers=dan, json={"title": "x"}), 422)
    assert_problem(api.post(f"/api/v1/campaigns/{cid}/cancel", headers=dan, json={"x": 1}), 422)
    for reason in ("x\u0000y", "line\nbreak", "\u202eevil"):  # NUL was a 500
        bad_cancel = api.post(
            f"/api/v1/campaigns/{cid}/cancel", headers=dan, json={"reason": reason}
        )
        assert_problem(bad_cancel, 422, "validation_error")
    [after] = mine(api, dan)["items"]
    assert after == before


def _place_order(api: httpx.Client, slug: str) -> dict[str, Any] | None:
    r = api.post(
        f"/api/v1/campaigns/{slug}/orders",
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json={"email": "buyer@example.com", "payment_method_id": "pm_card_visa"},
    )
    if not_open_yet(r):  # orders has not heard of the campaign or its publishing yet
        return None
    assert r.status_code == 201, r.text
    order: dict[str, Any] = r.json()
    return order


def test_deadline_closes_campaigns(
    stack: DevStack, api: httpx.Client, eventually: Eventually
) -> None:
    erin = auth(stack, new_creator())

    def launch(deadline_s: float) -> dict[str, Any]:
        r = api.post("/api/v1/campaigns", headers=erin, json=draft_body(deadline=_soon(deadline_s)))
        assert r.status_code == 201, r.text
        p = api.post(f"/api/v1/campaigns/{r.json()['id']}/publish", headers=erin)
        assert p.status_code == 200, p.text
        body: dict[str, Any] = p.json()
        return body

    winner = launch(12)
    loser = launch(3)
    # Five confirmed orders before the winner's deadline; none for the loser.
    orders = [eventually(lambda: _place_order(api, winner["slug"]), "an order") for _ in range(5)]
    assert len({o["id"] for o in orders}) == 5

    def status(slug: str, wanted: str) -> dict[str, Any] | None:
        view: dict[str, Any] = api.get(f"/api/v1/campaigns/{slug}").json()
        return view if view["status"] == wanted else None

    failed = eventually(lambda: status(loser["slug"], "failed"), "the loser to fail", 30)
    assert failed["current_orders"] == 0
    assert failed["closed_at"] is not None
    counted = eventually(
        lambda: api.get(f"/api/v1/campaigns/{winner['slug']}").json()["current_orders"] == 5,
        "the winner to count five orders",
        30,
    )
    assert counted
    assert api.get(f"/api/v1/campaigns/{winner['slug']}").json()["tipped_at"] is not None
    done = eventually(lambda: status(winner["slug"], "successful"), "the winner to succeed", 40)
    assert datetime.fromisoformat(done["closed_at"]) >= datetime.fromisoformat(done["deadline"])
    # Closed: no more orders, no more edits.
    late = api.post(
        f"/api/v1/campaigns/{winner['slug']}/orders",
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json={"email": "late@example.com", "payment_method_id": "pm_card_visa"},
    )
    assert late.status_code in (409, 422), late.text
    assert_problem(
        api.patch(f"/api/v1/campaigns/{winner['id']}", headers=erin, json={"title": "x"}),
        409,
        "campaign_closed",
    )


def test_counter_matches_confirmed_orders_after_concurrent_orders_and_cancels(
    stack: DevStack, api: httpx.Client, eventually: Eventually
) -> None:
    """20 concurrent orders, 3 buyer cancels: `current_orders` ends at exactly 17."""
    fay = auth(stack, new_creator())
    r = api.post("/api/v1/campaigns", headers=fay, json=draft_body(min_orders=8))
    assert r.status_code == 201, r.text
    campaign = r.json()
    assert api.post(f"/api/v1/campaigns/{campaign['id']}/publish", headers=fay).status_code == 200
    slug = campaign["slug"]
    eventually(lambda: _place_order(api, slug), "orders to learn of the campaign", 30)  # #1

    with ThreadPoolExecutor(max_workers=19) as pool:
        placed = list(pool.map(lambda _: _place_order(api, slug), range(19)))
    orders = [o for o in placed if o is not None]
    assert len(orders) == 19

    def confirmed() -> bool:
        return bool(api.get(f"/api/v1/campaigns/{slug}").json()["current_orders"] == 20)

    eventually(confirmed, "20 confirmed orders counted", 60)
    for order in orders[:3]:
        c = api.post(
            f"/api/v1/orders/{order['id']}/cancel", headers={"X-Order-Token": order["order_token"]}
        )
        assert c.status_code == 200, c.text
    eventually(
        lambda: api.get(f"/api/v1/campaigns/{slug}").json()["current_orders"] == 17,
        "the three cancels to be uncounted",
        30,
    )
    view = api.get(f"/api/v1/campaigns/{slug}").json()
    assert view["tipped_at"] is not None  # tipped once at 8; stays a fact
    assert view["status"] == "active"
