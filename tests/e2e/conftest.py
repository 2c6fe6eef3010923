"""One embedded stack (all four services behind the gateway) shared by every e2e test."""

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from dropwave_devstack.stack import DevStack

Eventually = Callable[..., Any]

# The e2e tests place thousands of orders, poll, and create campaign after campaign from
# 127.0.0.1 (one "visitor"): these routes and named budgets are raised for everyone. Every
# other route keeps the default (RATE_LIMIT_DEFAULT, 100/min per client address), which
# test_limits.py checks from other loopback addresses (127.0.0.2, ...).
RAISED = "1000000/min"
RAISED_LIMITS = dict.fromkeys(
    (
        # orders
        "place_order",
        "get_order",
        "cancel_order",
        "order_per_ip",
        "order_per_email",
        # campaigns
        "create_campaign",
        "list_my_campaigns",
        "update_campaign",
        "publish_campaign",
        "get_campaign",
        "get_activity",
        "campaign_create_per_creator",
        # payments
        "get_pay_later",
    ),
    RAISED,
)


def e2e_env() -> dict[str, str]:
    """The services' settings for the e2e stacks (the shared one, and a module's own)."""
    # Short deadlines; the closing tally waits up to 90 s for orders still authorizing at
    # the deadline (the stall tests hold authorizations back across it; a slow CI box can
    # take a while over a module's burst of orders). No test waits for it to run out.
    return {
        "MIN_CAMPAIGN_DURATION_S": "0",
        "CLOSE_MAX_WAIT_S": "90",
        "RATE_LIMITS": json.dumps(RAISED_LIMITS),
        # Every other route (views, refunds, unsubscribe...) and schemathesis' fuzzing from
        # 127.0.0.1 are not limited either; test_limits.py comes from 127.0.0.2 and .3.
        "RATE_LIMIT_EXEMPT": "127.0.0.1/32",
        "DECLINE_LOCKOUT_THRESHOLD": "1000",  # tests decline cards on purpose
        # Campaigns here last seconds while tests expire holds at will (the emulator's
        # control): every card is saved for the off-session charge, as a campaign outliving
        # the hold would have it. The one-request path is payments' tests' and the bench's.
        "AUTHORIZATION_HOLD_S": "1",
    }


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    # Payments reaches the emulator through a fault proxy (no faults until a test asks).
    with DevStack(tmp_path_factory.mktemp("stack"), extra_env=e2e_env(), stripe_faults=True) as s:
        yield s


@pytest.fixture
def api(stack: DevStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=10) as client:
        yield client


def _eventually(probe: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """Poll until `probe` returns a truthy value (the system is asynchronous)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def not_open_yet(r: httpx.Response) -> bool:
    """Orders learns of a campaign by event: until CampaignCreated it answers 404, until
    CampaignPublished 409 campaign_not_published."""
    if r.status_code == 404:
        return True
    return r.status_code == 409 and r.json().get("code") == "campaign_not_published"


@pytest.fixture
def eventually() -> Eventually:
    return _eventually


def publish_campaign(
    stack: DevStack, api: httpx.Client, creator_id: str = "activity-creator"
) -> tuple[dict[str, Any], dict[str, str]]:
    """A published campaign (5 orders, 3 days) of `creator_id`, and the creator's auth header."""
    creator = {"Authorization": f"Bearer {stack.mint_token(creator_id)}"}
    created = api.post(
        "/api/v1/campaigns",
        headers=creator,
        json={
            "title": f"Linen tote {uuid.uuid4().hex[:6]}",
            "price_cents": 1800,
            "currency": "usd",
            "min_orders": 5,
            "deadline": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    campaign: dict[str, Any] = created.json()
    published = api.post(f"/api/v1/campaigns/{campaign['id']}/publish", headers=creator)
    assert published.status_code == 200, published.text
    return campaign, creator


async def post_order(
    client: httpx.AsyncClient, url: str, key: str, body: dict[str, Any], tries: int = 3
) -> httpx.Response:
    """Place an order as a real client does under load: a connection lost before the answer
    (``httpx.TransportError``) is retried under the same ``Idempotency-Key``, which makes a
    retry of an order already taken answer that order, never a second one."""
    for attempt in range(1, tries + 1):
        try:
            return await client.post(url, headers={"Idempotency-Key": key}, json=body)
        except httpx.TransportError:
            if attempt == tries:
                raise
    raise AssertionError("unreachable")


def operator(
    stack: DevStack, service: str, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``python -m <service> <args>`` as an operator runs it: in the service's environment
    (its database, broker and Stripe settings), stdout and stderr captured."""
    return subprocess.run(
        [sys.executable, "-m", service, *args],
        env={**os.environ, **stack.services[service].env},
        capture_output=True,
        text=True,
        timeout=60,
        check=check,
    )
