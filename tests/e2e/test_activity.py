"""Activity feed, live stream (SSE through the Caddy gateway) and view/share counters, end
to end."""

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from dropwave_devstack.stack import DevStack

from .conftest import Eventually, not_open_yet, publish_campaign

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def sse_events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Parse a text/event-stream into {"event", "id", "data"} dicts (comments skipped)."""
    event: dict[str, Any] = {}
    for line in response.iter_lines():
        if not line:
            if "data" in event:
                yield event
            event = {}
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                event["data"] = json.loads(value)
            elif name in ("event", "id"):
                event[name] = value


def next_matching(events: Iterator[dict[str, Any]], match: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    for event in events:
        if match(event):
            return event
        if time.monotonic() > deadline:
            break
    raise AssertionError("no matching live event")


def test_live_stream_feed_and_counters(
    stack: DevStack, api: httpx.Client, eventually: Eventually
) -> None:
    campaign, _ = publish_campaign(stack, api)
    slug = campaign["slug"]
    with live_client(stack) as live, live.stream("GET", f"/api/v1/campaigns/{slug}/live") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = sse_events(stream)
        first = next(events)
        assert first["event"] == "counter"
        assert first["data"]["min_orders"] == 5
        assert first["data"]["current_orders"] == 0

        # A view reaches the stream (after the periodic roll-up), through the gateway.
        assert api.post(f"/api/v1/campaigns/{slug}/views").status_code == 202
        assert api.post(f"/api/v1/campaigns/{slug}/shares").status_code == 202
        counter = next_matching(
            events,
            lambda e: (
                e["event"] == "counter" and e["data"]["views"] >= 1 and e["data"]["shares"] >= 1
            ),
        )
        assert counter["data"]["status"] == "active"

        # An order: "Buyer #1 joined" and the new count arrive live.
        key = {"Idempotency-Key": str(uuid.uuid4())}
        body = {"email": "activity-buyer@example.com", "payment_method_id": "pm_card_visa"}

        def place() -> httpx.Response | None:
            r = api.post(f"/api/v1/campaigns/{slug}/orders", headers=key, json=body)
            return None if not_open_yet(r) else r

        placed = eventually(place, "orders to learn of the campaign")
        assert placed.status_code == 201, placed.text
        joined = next_matching(
            events, lambda e: e["event"] == "activity" and e["data"]["kind"] == "buyer_joined"
        )
        assert joined["data"]["message"] == "Buyer #1 joined"
        assert joined["id"] == joined["data"]["id"]
        assert "activity-buyer" not in json.dumps(joined)
        counted = next_matching(
            events, lambda e: e["event"] == "counter" and e["data"]["current_orders"] == 1
        )
        assert counted["data"]["conversion_rate"] is not None

    # The feed: newest first, the campaign's publication and the buyer, no PII.
    def feed() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = api.get(f"/api/v1/campaigns/{slug}/activity").json()["items"]
        kinds = [i["kind"] for i in items]
        return items if {"buyer_joined", "campaign_published"} <= set(kinds) else None

    items = eventually(feed, "the feed to show the publication and the buyer")
    kinds = [i["kind"] for i in items]
    assert kinds.index("buyer_joined") < kinds.index("campaign_published")
    page = api.get(f"/api/v1/campaigns/{slug}/activity", params={"limit": 1}).json()
    assert len(page["items"]) == 1
    assert page["next_cursor"]

    # Resume: with Last-Event-ID the stream replays what came after that entry.
    published = next(i for i in items if i["kind"] == "campaign_published")
    resume = {"Last-Event-ID": published["id"]}
    with (
        live_client(stack) as again,
        again.stream("GET", f"/api/v1/campaigns/{slug}/live", headers=resume) as stream,
    ):
        replayed = next_matching(sse_events(stream), lambda e: e["event"] == "activity")
        assert replayed["data"]["kind"] == "buyer_joined"

    view = api.get(f"/api/v1/campaigns/{slug}").json()
    assert view["views"] >= 1
    assert view["shares"] >= 1
    assert view["current_orders"] == 1
    assert view["conversion_rate"] == round(1 / view["views"], 4)


def live_client(stack: DevStack) -> httpx.Client:
    return httpx.Client(base_url=stack.base_url, timeout=httpx.Timeout(10, read=30))


def test_a_flood_of_views_is_rate_limited(
    stack: DevStack, api: httpx.Client, eventually: Eventually
) -> None:
    campaign, _ = publish_campaign(stack, api)
    path = f"/api/v1/campaigns/{campaign['slug']}/views"
    answers = [api.post(path) for _ in range(60)]
    codes = {r.status_code for r in answers}
    assert codes == {202, 429}
    limited = next(r for r in answers if r.status_code == 429)
    assert limited.json()["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    # The bucket refills: views are accepted again shortly (and later tests are unaffected).
    eventually(lambda: api.post(path).status_code == 202, "the rate limit to lift", timeout=10)
