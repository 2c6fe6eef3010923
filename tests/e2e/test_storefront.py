"""The drop page through the gateway on the embedded stack: it appears once the storefront
has read CampaignPublished, counts the orders as they are confirmed, and is gone (410) once
the creator cancels."""

import re
import uuid

import httpx
import pytest
from dropwave_devstack.stack import DevStack

from .conftest import Eventually, not_open_yet
from .test_orders import publish_campaign

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_the_drop_page_follows_the_campaign(
    stack: DevStack, api: httpx.Client, eventually: Eventually
) -> None:
    creator = "creator-storefront-1"
    slug = publish_campaign(
        stack, api, creator, description='Solid oak & "walnut".', theme={"accent_color": "#1a5fb4"}
    )

    def page() -> httpx.Response:
        return api.get(f"/{slug}", params={"ref": "e2e_test"})

    shown = eventually(lambda: (r := page()).status_code == 200 and r, "the page to appear")
    html = shown.text
    assert "<strong>0</strong> of 5 joined" in html
    assert "Solid oak &amp; &#34;walnut&#34;." in html
    assert 'data-ref="e2e_test"' in html
    # The page's own policy (a nonce per answer, Stripe.js from the emulator) passes the
    # gateway; the API keeps the gateway's.
    (nonce,) = re.findall(r'<style nonce="([^"]+)">', html)
    csp = shown.headers["content-security-policy"]
    assert f"'nonce-{nonce}'" in csp
    assert f"script-src 'nonce-{nonce}' {stack.stripe_api_base}" in csp
    assert shown.headers["cache-control"] == "public, max-age=5, stale-while-revalidate=30"
    api_csp = api.get(f"/api/v1/campaigns/{slug}").headers["content-security-policy"]
    assert api_csp == "default-src 'none'; frame-ancestors 'none'"
    (css,) = re.findall(r'href="(/static/storefront\.[0-9a-f]+\.css)"', html)
    asset = api.get(css)
    assert asset.status_code == 200
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert api.get("/api/v1/no-such-thing").json()["code"] == "not_found"

    for n in range(2):
        body = {"email": f"page-{n}-{uuid.uuid4().hex[:8]}@example.com"}
        body["payment_method_id"] = "pm_card_visa"
        key = {"Idempotency-Key": str(uuid.uuid4())}

        def place(body: dict[str, str] = body, key: dict[str, str] = key) -> httpx.Response | None:
            r = api.post(f"/api/v1/campaigns/{slug}/orders", headers=key, json=body)
            return None if not_open_yet(r) else r

        assert eventually(place, "orders to take the order").status_code == 201
    eventually(lambda: "<strong>2</strong> of 5 joined" in page().text, "the page to count 2")

    campaign_id = api.get(f"/api/v1/campaigns/{slug}").json()["id"]
    auth = {"Authorization": f"Bearer {stack.mint_token(creator)}"}
    cancelled = api.post(f"/api/v1/campaigns/{campaign_id}/cancel", headers=auth, json={})
    assert cancelled.status_code == 200, cancelled.text
    gone = eventually(lambda: (r := page()).status_code == 410 and r, "the page to be gone")
    assert "This drop was cancelled" in gone.text
    assert api.get("/no-such-drop-anywhere").status_code == 404
