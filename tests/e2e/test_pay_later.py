"""The pay-later link end to end, through the gateway: a campaign succeeds but one buyer's
capture fails (their hold expired and their card needs authentication, so the off-session
charge is refused); the buyer's email carries a link with a signed token; with it the buyer
reads what to pay, pays (the SDK's confirm against the emulator, then 3-D Secure) and the
order ends ``captured``. A forged or missing token is a 404 problem; the token is never
logged."""

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import stripe
from dropwave_devstack.stack import DevStack

from .conftest import Eventually, not_open_yet

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

PRICE = 3000
MIN_ORDERS = 5  # the product's smallest minimum
DEADLINE_IN_S = 20


def authenticate(stack: DevStack, client_secret: str) -> dict[str, Any]:
    """What the buyer's bank page does (3-D Secure passed): the emulator's test control."""
    intent_id = client_secret.split("_secret_")[0]
    r = httpx.post(
        f"{stack.stripe_api_base}/v1/payment_intents/{intent_id}/_authenticate",
        data={"client_secret": client_secret, "success": "true"},
        headers={"Authorization": f"Bearer {stack.stripe_secret_key}"},
        timeout=10,
    )
    r.raise_for_status()
    result: dict[str, Any] = r.json()
    return result


def pay_later_mail(stack: DevStack, address: str) -> str | None:
    """The plain text of the capture-failed email to ``address``, once it arrived."""
    assert stack.smtp is not None
    for message in stack.smtp.messages():
        subject = str(message["Subject"])
        if message["X-Envelope-To"] == address and subject.startswith("Action needed"):
            body = message.get_body(("plain",))
            assert body is not None
            text: str = body.get_content()
            return text
    return None


def a_failed_capture(
    stack: DevStack, api: httpx.Client, eventually: Eventually
) -> tuple[dict[str, Any], list[dict[str, Any]], str, str]:
    """A campaign that succeeds while its last buyer's capture fails (their hold expired and
    their card needs 3-D Secure every time, so the off-session charge is refused): the
    campaign, its orders (the failed one last), the pay-later link in that buyer's mail and
    the PaymentIntent of their expired hold."""
    creator = {"Authorization": f"Bearer {stack.mint_token(f'later-{uuid.uuid4().hex[:8]}')}"}
    title = f"Pay later {uuid.uuid4().hex[:8]}"
    created = api.post(
        "/api/v1/campaigns",
        headers=creator,
        json={
            "title": title,
            "price_cents": PRICE,
            "currency": "usd",
            "min_orders": MIN_ORDERS,
            "deadline": (datetime.now(UTC) + timedelta(seconds=DEADLINE_IN_S)).isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    campaign = created.json()
    published = api.post(f"/api/v1/campaigns/{campaign['id']}/publish", headers=creator)
    assert published.status_code == 200, published.text

    # 1. Buyers with cards that just work, and one whose card needs 3-D Secure every time.
    late_buyer = f"late-{uuid.uuid4().hex[:8]}@example.com"
    buyers = [
        (f"ok-{uuid.uuid4().hex[:8]}@example.com", "pm_card_visa") for _ in range(MIN_ORDERS - 1)
    ]
    orders = []
    for email, card in [*buyers, (late_buyer, "pm_card_authenticationRequired")]:
        key = {"Idempotency-Key": str(uuid.uuid4())}
        body = {"email": email, "payment_method_id": card}

        def place(key: dict[str, str] = key, body: dict[str, str] = body) -> httpx.Response | None:
            r = api.post(f"/api/v1/campaigns/{campaign['slug']}/orders", headers=key, json=body)
            return None if not_open_yet(r) else r

        r = eventually(place, "orders to learn of the campaign", 15)
        assert r.status_code == 201, r.text
        orders.append(r.json())
    late = orders[-1]

    def view(order: dict[str, Any]) -> dict[str, Any]:
        return order_view(api, order)

    # 2. The last buyer passes 3-D Secure: all authorized before the deadline.
    action = eventually(
        lambda: (v := view(late))["status"] == "requires_action" and v, "3-D Secure asked", 20
    )
    assert authenticate(stack, action["client_secret"])["status"] == "requires_capture"
    eventually(
        lambda: [view(o)["status"] for o in orders] == ["authorized"] * MIN_ORDERS,
        "every order authorized",
        20,
    )

    # 3. Their hold expires before the deadline (Stripe cancels it): settlement charges the
    # saved card off-session, the card needs authentication, the capture fails.
    intent_id = action["client_secret"].split("_secret_")[0]
    expired = httpx.post(f"{stack.stripe_api_base}/_config/payment_intents/{intent_id}/expire")
    expired.raise_for_status()
    closed = eventually(
        lambda: (
            (v := api.get(f"/api/v1/campaigns/{campaign['slug']}").json())["status"] != "active"
            and v
        ),
        "the deadline to close the campaign",
        DEADLINE_IN_S + 30,
    )
    assert closed["status"] == "successful"
    eventually(
        lambda: [view(o)["status"] for o in orders[:-1]] == ["captured"] * (MIN_ORDERS - 1),
        "the other buyers charged",
        60,
    )
    eventually(lambda: view(late)["status"] == "capture_failed", "the capture to fail", 60)

    # 4. The email carries the link with its token.
    mail = eventually(lambda: pay_later_mail(stack, late_buyer), "the pay-later email", 60)
    link = re.search(rf"{re.escape(stack.base_url)}/pay/{late['id']}#t=\S+", mail)
    assert link is not None, mail
    return campaign, orders, link.group(0), intent_id


def order_view(api: httpx.Client, order: dict[str, Any]) -> dict[str, Any]:
    """The order as its buyer reads it (with its token)."""
    token = {"X-Order-Token": order["order_token"]}
    result: dict[str, Any] = api.get(f"/api/v1/orders/{order['id']}", headers=token).json()
    return result


def test_a_buyer_pays_later_through_the_link_in_their_email(
    stack: DevStack, api: httpx.Client, eventually: Eventually
) -> None:
    campaign, orders, link, intent_id = a_failed_capture(stack, api, eventually)
    ok, late = orders[0], orders[-1]
    token = link.split("#t=")[1]
    url = f"/api/v1/payments/{late['id']}/pay-later"

    def view(order: dict[str, Any]) -> dict[str, Any]:
        return order_view(api, order)

    # 5. A forged or missing token reads nothing.
    expiry, signature = token.split(".")
    forged = f"{expiry}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    for params in ({"token": forged}, {}, {"token": f"{int(expiry) + 86400}.{signature}"}):
        refused = api.get(url, params=params)
        assert refused.status_code == 404, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "pay_link_not_found"
    other = api.get(f"/api/v1/payments/{ok['id']}/pay-later", params={"token": token})
    assert other.status_code == 404  # the token is for its own order only

    # 6. With the token: what to pay, and the client_secret to pay with.
    opened = api.get(url, params={"token": token})
    assert opened.status_code == 200, opened.text
    info = opened.json()
    # The same as a header (the pay page's way: a query string is logged, a header is not).
    assert api.get(url, headers={"X-Pay-Token": token}).json() == info
    assert {k: info[k] for k in ("order_id", "campaign_id", "amount_cents", "currency")} == {
        "order_id": late["id"],
        "campaign_id": campaign["id"],
        "amount_cents": PRICE,
        "currency": "usd",
    }
    assert info["status"] == "open"
    assert datetime.fromisoformat(info["pay_later_until"]) > datetime.now(UTC)
    secret = info["client_secret"]
    assert secret.startswith("pi_")
    assert not secret.startswith(intent_id)  # a new PaymentIntent, not the expired hold

    # 7. The buyer pays (Stripe.js in production; here the SDK, then 3-D Secure): Stripe's
    # payment_intent.succeeded webhook captures and the order follows.
    client = stripe.StripeClient(
        stack.stripe_secret_key, base_addresses={"api": stack.stripe_api_base}
    )
    confirmed = client.v1.payment_intents.confirm(secret.split("_secret_")[0])
    assert confirmed.status == "requires_action"
    assert authenticate(stack, secret)["status"] == "succeeded"
    eventually(lambda: view(late)["status"] == "captured", "the paid order captured", 60)
    paid = api.get(url, params={"token": token}).json()
    assert (paid["status"], paid["client_secret"]) == ("paid", None)

    # 8. The token (a bearer credential) is in no service's log.
    _, signature = token.split(".")
    for svc in stack.services.values():
        assert signature not in svc.log_path.read_text(errors="replace"), svc.name
