"""Early-bird tiers and stretch goals end to end, through the gateway on the embedded stack:
each buyer pays the tier of their buyer number (the order's answer, the mails, and what the
Stripe emulator authorized and captured), a stretch goal's mail reaches each buyer and the
creator once, the public view and the drop page show both, and bad tiers are 4xx problems
that change nothing. The operator's ``close-now`` ends the drop (what its deadline does)."""

import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from dropwave_devstack.stack import DevStack

from .conftest import Eventually, operator
from .test_notifications import mail_to, subjects
from .test_settlement import intents_of, place, statuses

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

TIERS = [{"up_to_buyer": 2, "price_cents": 2000}, {"up_to_buyer": 4, "price_cents": 2500}]
PRICE = 3000
GOAL = "Everyone gets the enamel pin"
EXPECTED = {1: 2000, 2: 2000, 3: 2500, 4: 2500, 5: 3000, 6: 3000, 7: 3000}


def test_a_tiered_drop_with_a_stretch_goal(
    stack: DevStack, api: httpx.Client, eventually: Eventually
) -> None:
    creator_id = f"tiers-{uuid.uuid4().hex[:8]}"
    creator = {"Authorization": f"Bearer {stack.mint_token(creator_id)}"}
    creator_email = f"{creator_id}@creators.dropwave.test"
    title = f"Enamel mug {uuid.uuid4().hex[:8]}"
    body: dict[str, Any] = {
        "title": title,
        "price_cents": PRICE,
        "currency": "usd",
        "min_orders": 5,
        "deadline": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "price_tiers": TIERS,
        "stretch_goals": [{"orders": 6, "message": GOAL}],
    }

    # Bad tiers: a 4xx problem, nothing created.
    before = api.get("/api/v1/campaigns", params={"mine": "true"}, headers=creator).json()
    for bad in (
        {"price_tiers": TIERS[::-1]},
        {"price_tiers": [{"up_to_buyer": 2, "price_cents": 50}]},
        {"stretch_goals": [{"orders": 5, "message": GOAL}]},
    ):
        refused = api.post("/api/v1/campaigns", headers=creator, json=body | bad)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    after = api.get("/api/v1/campaigns", params={"mine": "true"}, headers=creator).json()
    assert after == before

    created = api.post("/api/v1/campaigns", headers=creator, json=body)
    assert created.status_code == 201, created.text
    campaign_id, slug = created.json()["id"], created.json()["slug"]
    published = api.post(f"/api/v1/campaigns/{campaign_id}/publish", headers=creator)
    assert published.status_code == 200, published.text
    locked = api.patch(
        f"/api/v1/campaigns/{campaign_id}", headers=creator, json={"price_tiers": TIERS[:1]}
    )
    assert (locked.status_code, locked.json()["code"]) == (409, "rules_locked")
    view = api.get(f"/api/v1/campaigns/{slug}").json()
    assert view["price_tiers"] == TIERS
    assert (view["current_price_cents"], view["current_price_until_buyer"]) == (2000, 2)
    assert view["next_price_cents"] == 2500
    assert view["stretch_goals"] == [{"orders": 6, "message": GOAL, "reached": False}]

    # Six buyers: the sixth reaches the stretch goal.
    emails = [f"tier-{uuid.uuid4().hex[:8]}-{n}@example.com" for n in range(1, 8)]
    orders = place(api, eventually, slug, 6, emails[:6])
    assert {o["buyer_number"]: o["amount_cents"] for o in orders} == {
        n: EXPECTED[n] for n in range(1, 7)
    }
    eventually(lambda: statuses(api, orders) == ["authorized"] * 6, "six authorized", 30)
    reached = eventually(
        lambda: (
            (v := api.get(f"/api/v1/campaigns/{slug}").json())["stretch_goals"][0]["reached"] and v
        ),
        "the stretch goal to be reached",
        30,
    )
    assert reached["current_price_cents"] == PRICE
    assert reached["next_price_cents"] is None

    # A seventh buyer right after the goal (well before the deadline): full price, no goal mail.
    orders += place(api, eventually, slug, 1, emails[6:])
    assert (orders[-1]["buyer_number"], orders[-1]["amount_cents"]) == (7, 3000)

    goal_subject = f"{title} reached 6 orders: {GOAL}"

    def told_once() -> bool:
        return all(subjects(stack, e)[goal_subject] == 1 for e in emails[:6]) and (
            subjects(stack, creator_email)[f"{title} reached its stretch goal of 6 orders"] == 1
        )

    eventually(told_once, "the stretch goal mail to six buyers and the creator", 60)
    for n, email in enumerate(emails[:6], start=1):  # each mail states the buyer's own price
        [confirmation] = [m for m in mail_to(stack, email) if "You're buyer" in str(m["Subject"])]
        text = confirmation.get_body(("plain",))
        assert text is not None
        assert f"${EXPECTED[n] / 100:.2f}" in text.get_content()

    # The page shows the goal reached (its cache holds a render a few seconds at most).
    eventually(
        lambda: "(reached)" in (p := api.get(f"/{slug}").text) and "$30.00" in p,
        "the drop page to show the goal reached",
        20,
    )

    # The operator closes the drop now (the deadline's own path, without waiting an hour): it
    # succeeds, and the emulator captured each buyer's tier, once.
    closed = operator(stack, "orders", "close-now", campaign_id)
    assert "intake closed" in closed.stdout, closed.stdout
    captured = ["captured"] * 7
    eventually(lambda: statuses(api, orders) == captured, "every order captured", 150)
    intents = intents_of(stack, campaign_id)
    by_order = {i["metadata"]["order_id"]: i for i in intents}
    assert len(intents) == 7
    for o in orders:
        intent = by_order[o["id"]]
        assert intent["status"] == "succeeded"
        assert intent["amount"] == intent["amount_received"] == EXPECTED[o["buyer_number"]]
    time.sleep(2)  # nothing more may arrive
    assert subjects(stack, emails[6])[goal_subject] == 0
    assert all(subjects(stack, e)[goal_subject] == 1 for e in emails[:6])
    creator_mail = Counter(str(m["Subject"]) for m in mail_to(stack, creator_email))
    assert creator_mail[f"{title} reached its stretch goal of 6 orders"] == 1
