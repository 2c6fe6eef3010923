"""Stripe Connect and refunds across services, through the gateway: a creator onboards
(account.updated webhook from the emulator), a campaign's orders are destination charges,
the campaign succeeds and settles, then the owner and an operator refund an order: the order
follows (a full refund reads ``refunded``, a partial one shows ``refunded_cents``) and the
buyer is emailed each refund once."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import stripe
from dropwave_devstack.stack import DevStack

from .conftest import Eventually, not_open_yet, operator

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

ORDERS = 5
PRICE = 2500


def test_onboard_charge_settle_refund(
    stack: DevStack, api: httpx.Client, eventually: Eventually
) -> None:
    creator_id = f"creator-{uuid.uuid4().hex[:8]}"
    creator = {"Authorization": f"Bearer {stack.mint_token(creator_id)}"}
    stranger = {"Authorization": f"Bearer {stack.mint_token('someone-else')}"}

    # 1. Onboarding: an Express account and a link; the state comes from the webhook.
    assert api.post("/api/v1/creators/me/payouts/onboarding").status_code == 401
    started = api.post("/api/v1/creators/me/payouts/onboarding", headers=creator)
    assert started.status_code == 200, started.text
    onboarding = started.json()
    assert onboarding["account_id"].startswith("acct_")
    assert onboarding["payouts_enabled"] is False
    again = api.post("/api/v1/creators/me/payouts/onboarding", headers=creator).json()
    assert again["account_id"] == onboarding["account_id"]  # one account per creator
    httpx.get(onboarding["onboarding_url"], timeout=10).raise_for_status()  # creator finishes

    def payouts_enabled() -> dict[str, Any] | None:
        body: dict[str, Any] = api.get("/api/v1/creators/me/payouts", headers=creator).json()
        return body if body["payouts_enabled"] else None

    status = eventually(payouts_enabled, "account.updated to reach payments")
    assert status["account_id"] == onboarding["account_id"]

    # 2. A campaign that succeeds shortly: its orders are destination charges.
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    created = api.post(
        "/api/v1/campaigns",
        headers=creator,
        json={
            "title": f"Connect drop {uuid.uuid4().hex[:6]}",
            "price_cents": PRICE,
            "currency": "eur",
            "min_orders": ORDERS,
            "deadline": deadline.isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    campaign = created.json()
    published = api.post(f"/api/v1/campaigns/{campaign['id']}/publish", headers=creator)
    assert published.status_code == 200, published.text

    orders: list[dict[str, Any]] = []
    emails: list[str] = []
    for i in range(ORDERS):
        emails.append(f"buyer-{uuid.uuid4().hex[:8]}@example.com")
        body = {
            "email": emails[i],
            "payment_method_id": "pm_card_visa",
        }
        key = {"Idempotency-Key": str(uuid.uuid4())}

        def place(body: dict[str, str] = body, key: dict[str, str] = key) -> httpx.Response | None:
            r = api.post(f"/api/v1/campaigns/{campaign['slug']}/orders", headers=key, json=body)
            return None if not_open_yet(r) else r

        placed = eventually(place, f"order {i} to be taken")
        assert placed.status_code == 201, placed.text
        orders.append(placed.json())

    def view_of(order: dict[str, Any]) -> dict[str, Any]:
        token = {"X-Order-Token": order["order_token"]}
        view: dict[str, Any] = api.get(f"/api/v1/orders/{order['id']}", headers=token).json()
        return view

    def status_of(order: dict[str, Any]) -> str:
        return str(view_of(order)["status"])

    # 3. The deadline passes: settlement captures every order.
    eventually(lambda: all(status_of(o) == "captured" for o in orders), "every order captured", 90)
    client = stripe.StripeClient("sk_test_e2e", base_addresses={"api": stack.stripe_api_base})
    ids = {o["id"] for o in orders}
    intents = {
        pi.metadata.to_dict()["order_id"]: pi
        for pi in client.v1.payment_intents.list({"limit": 100}).auto_paging_iter()
        if pi.metadata.to_dict().get("order_id") in ids
    }
    assert set(intents) == ids
    for intent in intents.values():
        assert intent.status == "succeeded"
        assert intent.transfer_data is not None
        assert intent.transfer_data.destination == onboarding["account_id"]
        assert intent.application_fee_amount == PRICE * 5 // 100  # platform_fee_bps 500

    # 4. Refunds: the owner partly, never above the capture; a stranger cannot.
    first = orders[0]["id"]
    url = f"/api/v1/payments/{first}/refunds"
    assert api.post(url, headers=stranger, json={"amount_cents": 100}).status_code == 404
    partly = api.post(url, headers=creator, json={"amount_cents": 1000})
    assert partly.status_code == 201, partly.text
    assert partly.json()["refunded_cents"] == 1000
    too_much = api.post(url, headers=creator, json={"amount_cents": PRICE})
    assert too_much.status_code == 409
    assert too_much.json()["code"] == "refund_exceeds_captured"
    assert api.post(url, headers=creator, json={"amount_cents": -5}).status_code == 422
    rest = api.post(url, headers=creator, json={})
    assert rest.status_code == 201, rest.text
    assert (rest.json()["amount_cents"], rest.json()["status"]) == (PRICE - 1000, "refunded")
    refunds = client.v1.refunds.list({"payment_intent": intents[first].id}).data
    assert sorted(r.amount for r in refunds) == [1000, PRICE - 1000]

    # 5. An operator refunds another order from the service CLI.
    second = orders[1]["id"]
    cli = operator(stack, "payments", "refund", second, "--amount-cents", "700", check=False)
    assert cli.returncode == 0, cli.stderr
    assert '"amount_cents": 700' in cli.stdout
    refunds = client.v1.refunds.list({"payment_intent": intents[second].id}).data
    assert [r.amount for r in refunds] == [700]

    # 6. The orders follow: fully refunded reads `refunded`, partly refunded shows the amount.
    def refunded(order: dict[str, Any], status: str, cents: int) -> dict[str, Any] | None:
        view = view_of(order)
        return view if (view["status"], view["refunded_cents"]) == (status, cents) else None

    eventually(lambda: refunded(orders[0], "refunded", PRICE), "the full refund to reach orders")
    eventually(lambda: refunded(orders[1], "captured", 700), "the partial refund to reach orders")
    assert refunded(orders[2], "captured", 0)

    # 7. Each refund is emailed to its buyer once.
    title = campaign["title"]

    def refund_mail(address: str) -> list[str]:
        assert stack.smtp is not None
        return sorted(
            str(m["Subject"])
            for m in stack.smtp.messages()
            if m["X-Envelope-To"] == address
            and str(m["Subject"]).startswith("You've been refunded")
        )

    first_mail = [
        f"You've been refunded €10.00 for {title}",
        f"You've been refunded €15.00 for {title}",
    ]
    eventually(lambda: refund_mail(emails[0]) == first_mail, "both refund emails to buyer 1")
    eventually(
        lambda: refund_mail(emails[1]) == [f"You've been refunded €7.00 for {title}"],
        "the refund email to buyer 2",
    )
    assert refund_mail(emails[2]) == []
