"""Settlement and release end to end on the shared stack: a campaign that reaches its
minimum is captured order by order at its deadline; one that does not releases every hold
(PaymentIntents ``canceled`` at the emulator)."""

import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from dropwave_devstack.stack import DevStack

from .conftest import Eventually, not_open_yet, operator

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

DEADLINE_IN_S = 12


def launch(
    stack: DevStack, api: httpx.Client, eventually: Eventually, min_orders: int
) -> tuple[str, str]:
    """A published campaign whose deadline is a few seconds away; returns its id."""
    creator = {"Authorization": f"Bearer {stack.mint_token(f'settle-{uuid.uuid4().hex[:8]}')}"}
    created = api.post(
        "/api/v1/campaigns",
        headers=creator,
        json={
            "title": f"Settle {uuid.uuid4().hex[:8]}",
            "price_cents": 3000,
            "currency": "usd",
            "min_orders": min_orders,
            "deadline": (datetime.now(UTC) + timedelta(seconds=DEADLINE_IN_S)).isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    campaign: dict[str, Any] = created.json()
    published = api.post(f"/api/v1/campaigns/{campaign['id']}/publish", headers=creator)
    assert published.status_code == 200, published.text
    return str(campaign["id"]), str(campaign["slug"])


def place(
    api: httpx.Client, eventually: Eventually, slug: str, n: int, emails: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """`n` orders, one after the other (buyer numbers in that order), by `emails` if given."""
    orders = []
    for i in range(n):

        def one(i: int = i) -> httpx.Response | None:
            # A new key and (unless given) address per try: a try orders refuses because it
            # has not heard of the campaign yet creates nothing, but it spends the address's
            # order budget (10 an hour), so retrying one address would run into a 429.
            key = {"Idempotency-Key": str(uuid.uuid4())}
            body = {
                "email": emails[i] if emails else f"b-{uuid.uuid4().hex[:8]}@example.com",
                "payment_method_id": "pm_card_visa",
            }
            r = api.post(f"/api/v1/campaigns/{slug}/orders", headers=key, json=body)
            return None if not_open_yet(r) else r

        r = eventually(one, "orders to learn of the campaign", 10)
        assert r.status_code == 201, r.text
        orders.append(r.json())
    return orders


def statuses(api: httpx.Client, orders: list[dict[str, Any]]) -> list[str]:
    return [
        api.get(f"/api/v1/orders/{o['id']}", headers={"X-Order-Token": o["order_token"]}).json()[
            "status"
        ]
        for o in orders
    ]


def intents_of(stack: DevStack, campaign_id: str) -> list[dict[str, Any]]:
    """The emulator's PaymentIntents of the campaign (by metadata), every page of them: the
    shared stack holds more than one page by the time later tests run."""
    found: list[dict[str, Any]] = []
    params: dict[str, str | int] = {"limit": 100}
    while True:
        r = httpx.get(
            f"{stack.stripe_api_base}/v1/payment_intents",
            params=params,
            headers={"Authorization": f"Bearer {stack.stripe_secret_key}"},
            timeout=10,
        )
        r.raise_for_status()
        page = r.json()
        found += [i for i in page["data"] if i["metadata"].get("campaign_id") == campaign_id]
        if not page.get("has_more") or not page["data"]:
            return found
        params["starting_after"] = page["data"][-1]["id"]


def settlement_summary(stack: DevStack, campaign_id: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(
        operator(stack, "payments", "settlement", campaign_id).stdout
    )
    return result


def test_successful_campaign_captures_every_order(
    stack: DevStack, api: httpx.Client, eventually: Eventually
) -> None:
    campaign_id, slug = launch(stack, api, eventually, min_orders=5)
    orders = place(api, eventually, slug, 5)
    eventually(lambda: statuses(api, orders) == ["authorized"] * 5, "every order authorized", 20)
    view = eventually(
        lambda: (v := api.get(f"/api/v1/campaigns/{slug}").json())["status"] != "active" and v,
        "the deadline to close the campaign",
        DEADLINE_IN_S + 30,
    )
    assert view["status"] == "successful"
    eventually(lambda: statuses(api, orders) == ["captured"] * 5, "every order captured", 60)
    intents = intents_of(stack, campaign_id)
    assert len(intents) == 5
    assert {i["status"] for i in intents} == {"succeeded"}
    assert {i["amount_received"] for i in intents} == {3000}

    summary = eventually(
        lambda: (s := settlement_summary(stack, campaign_id))["status"] == "done" and s,
        "the settlement summary",
        30,
    )
    assert summary["kind"] == "capture"
    assert summary["succeeded"] == 5
    assert summary["failed"] == 0
    assert summary["gross_cents"] == 5 * 3000
    assert summary["platform_fee_cents"] + summary["net_cents"] == 5 * 3000
    assert summary["platform_fee_cents"] > 0


def test_failed_campaign_releases_every_hold(
    stack: DevStack, api: httpx.Client, eventually: Eventually
) -> None:
    campaign_id, slug = launch(stack, api, eventually, min_orders=5)
    orders = place(api, eventually, slug, 3)
    eventually(lambda: statuses(api, orders) == ["authorized"] * 3, "every order authorized", 20)
    view = eventually(
        lambda: (v := api.get(f"/api/v1/campaigns/{slug}").json())["status"] != "active" and v,
        "the deadline to close the campaign",
        DEADLINE_IN_S + 30,
    )
    assert view["status"] == "failed"
    eventually(lambda: statuses(api, orders) == ["cancelled"] * 3, "every order released", 60)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        intents = intents_of(stack, campaign_id)
        if {i["status"] for i in intents} == {"canceled"}:
            break
        time.sleep(0.2)
    assert len(intents) == 3
    assert {i["status"] for i in intents} == {"canceled"}
    summary = eventually(
        lambda: (s := settlement_summary(stack, campaign_id))["status"] == "done" and s,
        "the release summary",
        30,
    )
    assert summary["kind"] == "release"
    assert summary["succeeded"] == 3
