"""The creator's side of "what works", end to end through the gateway: the stats of a drop
after views, shares and orders with referral codes and sources, owner only; and the
creator's settings reaching notifications at once (an SMS-only creator gets the next
milestone by SMS, and no mail)."""

import time
import uuid
from typing import Any

import httpx
import pytest
from dropwave_devstack.stack import DevStack

from .conftest import Eventually, not_open_yet, publish_campaign
from .test_notifications import mail_to, sms_to

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def order(api: httpx.Client, slug: str, eventually: Eventually, **fields: Any) -> None:
    body = {"email": f"s{uuid.uuid4().hex[:8]}@example.com", "payment_method_id": "pm_card_visa"}
    key = {"Idempotency-Key": str(uuid.uuid4())}

    def place() -> httpx.Response | None:
        r = api.post(f"/api/v1/campaigns/{slug}/orders", headers=key, json=body | fields)
        return None if not_open_yet(r) else r

    placed = eventually(place, "orders to learn of the campaign")
    assert placed.status_code == 201, placed.text


def test_stats_count_views_shares_and_orders_by_code_and_source(
    stack: DevStack, api: httpx.Client, eventually: Eventually
) -> None:
    owner_id = f"stats-{uuid.uuid4().hex[:8]}"
    campaign, owner = publish_campaign(stack, api, owner_id)
    slug, path = campaign["slug"], f"/api/v1/campaigns/{campaign['id']}/stats"
    hits = [
        ("views", {"ref": "ANNA", "source": "tiktok"}),
        ("views", {"ref": "ANNA", "source": "TikTok"}),
        ("views", {"ref": "ANNA", "source": "tt"}),
        ("views", {"source": "ig"}),
        ("views", {}),
        ("shares", {"ref": "ANNA", "source": "tiktok"}),
    ]
    for kind, params in hits:
        assert api.post(f"/api/v1/campaigns/{slug}/{kind}", params=params).status_code == 202
    bad = api.post(f"/api/v1/campaigns/{slug}/views", params={"ref": "<b>"})
    assert (bad.status_code, bad.json()["code"]) == (422, "validation_error")
    order(api, slug, eventually, referral_code="ANNA", source="tiktok")
    order(api, slug, eventually, referral_code="ANNA", source="tiktok")
    order(api, slug, eventually, source="storefront")  # the drop page without a source

    def counted() -> dict[str, Any] | None:
        r = api.get(path, headers=owner)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        done = body["views"] == 5 and body["authorized_orders"] == 3
        return body if done else None

    stats = eventually(counted, "the stats to count every hit and authorization")
    assert (stats["views"], stats["shares"], stats["orders"]) == (5, 1, 3)
    assert (stats["conversion_rate"], stats["authorized_share"]) == (0.6, 1.0)
    by_source = {s["source"]: (s["views"], s["shares"], s["orders"]) for s in stats["by_source"]}
    assert by_source == {"tiktok": (3, 1, 2), "instagram": (1, 0, 0), "direct": (1, 0, 1)}
    by_code = {c["referral_code"]: c for c in stats["by_referral_code"]}
    assert (by_code["ANNA"]["views"], by_code["ANNA"]["orders"]) == (3, 2)
    assert by_code["ANNA"]["conversion_rate"] == 0.6667
    assert (by_code[None]["views"], by_code[None]["orders"]) == (2, 1)
    [hour] = stats["orders_per_hour"]
    assert (hour["orders"], hour["authorized_orders"]) == (3, 3)

    stranger = {"Authorization": f"Bearer {stack.mint_token(f'{owner_id}-other')}"}
    other = api.get(path, headers=stranger)
    assert (other.status_code, other.json()["code"]) == (404, "campaign_not_found")
    assert api.get(path).status_code == 401


def test_an_sms_only_creator_hears_of_the_next_milestone_by_sms_only(
    stack: DevStack, api: httpx.Client, eventually: Eventually
) -> None:
    creator_id = f"sms-only-{uuid.uuid4().hex[:8]}"
    email = f"{creator_id}@creators.dropwave.test"  # the dev token's email claim
    phone = f"+1555{uuid.uuid4().int % 10_000_000:07d}"
    token = {"Authorization": f"Bearer {stack.mint_token(creator_id)}"}
    settings = "/api/v1/creators/me/settings"
    first = api.get(settings, headers=token)
    assert first.json() == {"email": email, "phone": None, "milestone_notifications": "email"}
    refused = api.put(settings, headers=token, json={"milestone_notifications": "sms"})
    assert (refused.status_code, refused.json()["code"]) == (422, "phone_required")
    chosen = {"milestone_notifications": "sms", "phone": phone}
    saved = api.put(settings, headers=token, json=chosen)
    assert saved.status_code == 200, saved.text
    assert api.get(settings, headers=token).json() == {"email": email, **chosen}
    assert api.get(settings).status_code == 401

    campaign, _ = publish_campaign(stack, api, creator_id)  # min 5: 2 orders are 25 %
    for _ in range(2):
        order(api, campaign["slug"], eventually)
    title = campaign["title"]
    [text] = eventually(lambda: sms_to(stack, phone), "the creator's milestone SMS")
    assert f"{title} has 2 confirmed orders, 25% of the 5" in text
    time.sleep(2)  # nothing else may come: no mail, no second SMS
    assert len(sms_to(stack, phone)) == 1
    assert mail_to(stack, email) == []
    for svc in stack.services.values():
        log = svc.log_path.read_text(errors="replace")
        assert phone not in log, f"{svc.name}'s log carries the creator's phone"
