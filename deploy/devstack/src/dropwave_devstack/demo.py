"""`make demo`: play a small drop through the public API of a running stack."""

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from .tokens import mint_creator_token

BUYERS = 5


def _wait(client: httpx.Client, path: str, ready: Any, timeout: float = 60, **kw: Any) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(path, **kw).json()
        if ready(body):
            return body
        time.sleep(0.25)
    raise TimeoutError(f"gave up waiting on {path}")


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def run(base_url: str, data_dir: Path | str | None = None) -> None:
    """Play a drop; ``data_dir`` is the stack's (its dev issuer signs the creator's token)."""
    token = mint_creator_token("demo-creator", data_dir=data_dir)
    creator = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, timeout=10) as api:
        created = (
            api.post(
                "/api/v1/campaigns",
                headers=creator,
                json={
                    "title": f"Demo drop {uuid.uuid4().hex[:4]}: walnut desk organiser",
                    "price_cents": 2500,
                    "min_orders": BUYERS,
                    "deadline": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
                },
            )
            .raise_for_status()
            .json()
        )
        say(f"creator made a draft: {created['slug']}")
        api.post(f"/api/v1/campaigns/{created['id']}/publish", headers=creator).raise_for_status()
        say(f"published: {base_url}/api/v1/campaigns/{created['slug']}")
        say(f"drop page: {base_url}/{created['slug']}")

        orders = []
        for n in range(BUYERS):
            body = {"email": f"buyer{n + 1}@example.com", "payment_method_id": "pm_card_visa"}
            headers = {"Idempotency-Key": str(uuid.uuid4())}
            deadline = time.monotonic() + 30
            while True:  # orders learns of the campaign from its event: may take a moment
                r = api.post(
                    f"/api/v1/campaigns/{created['slug']}/orders", json=body, headers=headers
                )
                not_yet = r.status_code == 404 or (  # drafts are known: 409 until published
                    r.status_code == 409 and r.json().get("code") == "campaign_not_published"
                )
                if not not_yet or time.monotonic() > deadline:
                    break
                time.sleep(0.25)
            order = r.raise_for_status().json()
            orders.append(order)
            say(f"{body['email']}: you're buyer #{order['buyer_number']}")

        for order in orders:
            _wait(
                api,
                f"/api/v1/orders/{order['id']}",
                lambda b: b["status"] == "authorized",
                headers={"X-Order-Token": order["order_token"]},
            )
        say("every card is authorized (on hold, not charged)")
        view = _wait(
            api, f"/api/v1/campaigns/{created['slug']}", lambda b: b["current_orders"] >= BUYERS
        )
        say(
            f"campaign: {view['current_orders']}/{view['min_orders']} orders, "
            f"tipped at {view['tipped_at']}"
        )
        say("confirmation emails are in the SMTP sink's maildir (see 'mail' above)")
