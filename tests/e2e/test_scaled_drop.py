"""Two instances of every service (``DevStack(scale=...)``, ``make dev SCALE=...``) play a
drop: the work is shared (every instance of every service handles events; the gateway
spreads the API's requests over both instances) and nothing is done twice (every event
handled once per service across its instances, one PaymentIntent per order, captured or
released once, one mail of each kind per buyer).

One campaign's events share a partition (keyed by campaign id), so one consumer handles
them all: next to the drop (5 orders, captured at its deadline), campaigns with one order
each (which fail at their deadline: the hold is released) are created until the ids cover
every partition, so that each instance's share of the partitions gets some of them.

This module runs its own stack (ten service processes), not the shared one.
"""

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka.partitioner import DefaultPartitioner
from dropwave_contracts.topics import CAMPAIGNS_EVENTS, event_type_of
from dropwave_devstack.stack import DEFAULT_SERVICES, DevStack
from prometheus_client.parser import text_string_to_metric_families

from .conftest import Eventually, e2e_env, not_open_yet
from .test_settlement import intents_of, statuses
from .test_stalls import launch

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(480)]

INSTANCES = 2
DEADLINE_IN_S = 25
PRICE_CENTS = 2000  # test_stalls.launch's campaigns
MIN_ORDERS = 5
MAX_CAMPAIGNS = 60  # covering 6 partitions takes about 15 ids; a bound, not a target
SERVICES = [spec.name for spec in DEFAULT_SERVICES]


@pytest.fixture(scope="module")
def scaled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    scale = dict.fromkeys(SERVICES, INSTANCES)
    with DevStack(
        tmp_path_factory.mktemp("scaled"), extra_env=e2e_env(), scale=scale, ready_timeout=120
    ) as stack:
        yield stack


def partition_of(campaign_id: str) -> int:
    """The partition the outbox relay's producer (aiokafka's default partitioner, murmur2
    of the key) sends a campaign's events to."""
    partitions = list(range(CAMPAIGNS_EVENTS.partitions))
    partition: int = DefaultPartitioner()(campaign_id.encode(), partitions, partitions)
    return partition


def samples(base_url: str, metric: str) -> list[tuple[dict[str, str], float]]:
    """The samples of one counter on a process's /metrics."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == metric
    ]


def handled(base_url: str) -> Counter[str]:
    """Events this process's consumer handled (inbox claimed, handler committed), by type."""
    counts: Counter[str] = Counter()
    for labels, value in samples(base_url, "dropwave_events_consumed_total"):
        if labels["outcome"] == "handled":
            counts[labels["event_type"]] += int(value)
    return counts


def api_requests(base_url: str) -> int:
    """Requests this process answered on API routes (not health or metrics)."""
    return sum(
        int(value)
        for labels, value in samples(base_url, "dropwave_http_requests_total")
        if labels["route"].startswith("/api/")
    )


def handled_types(service: str) -> set[str]:
    import importlib

    spec = importlib.import_module(f"{service}.bootstrap").SERVICE
    return {event_type_of(cls) for cls in spec.events}


def test_two_instances_of_every_service_share_a_drop_and_do_nothing_twice(
    scaled: DevStack, eventually: Eventually
) -> None:
    assert {name: len(i) for name, i in scaled.instances.items()} == dict.fromkeys(
        SERVICES, INSTANCES
    )
    with httpx.Client(base_url=scaled.base_url, timeout=30) as api:
        # 1. The drop, then campaigns until their ids cover every partition.
        covered: set[int] = set()
        campaigns: list[dict[str, Any]] = []
        while covered != set(range(CAMPAIGNS_EVENTS.partitions)):
            assert len(campaigns) < MAX_CAMPAIGNS, f"{covered} after {len(campaigns)} ids"
            deadline = datetime.now(UTC) + timedelta(seconds=DEADLINE_IN_S)
            campaign_id, slug = launch(scaled, api, deadline)  # 5 orders at 20.00 to succeed
            campaigns.append({"id": campaign_id, "slug": slug})
            covered.add(partition_of(campaign_id))
        drop, others = campaigns[0], campaigns[1:]

        # 2. Orders through the gateway (both orders instances take them): the drop's
        # minimum, one on each other campaign.
        def place(campaign: dict[str, Any]) -> dict[str, Any]:
            body = {
                "email": f"scaled-{uuid.uuid4().hex[:10]}@example.com",
                "payment_method_id": "pm_card_visa",
            }
            key = {"Idempotency-Key": str(uuid.uuid4())}

            def once() -> httpx.Response | None:
                r = api.post(f"/api/v1/campaigns/{campaign['slug']}/orders", headers=key, json=body)
                return None if not_open_yet(r) else r

            placed = eventually(once, "orders to learn of the campaign", 30)
            assert placed.status_code == 201, placed.text
            return {**placed.json(), "email": body["email"], "campaign": campaign}

        captured = [place(drop) for _ in range(MIN_ORDERS)]
        released = [place(campaign) for campaign in others]
        orders = captured + released

        # 3. The deadlines pass: the drop succeeds and is captured, the others release.
        def outcomes() -> list[str]:
            return [api.get(f"/api/v1/campaigns/{c['slug']}").json()["status"] for c in campaigns]

        eventually(
            lambda: outcomes() == ["successful"] + ["failed"] * len(others),
            "every campaign to close",
            DEADLINE_IN_S + 90,
        )
        eventually(
            lambda: (
                statuses(api, orders)
                == ["captured"] * len(captured) + ["cancelled"] * len(released)
            ),
            "every order captured or released",
            120,
        )

    # 4. Nothing twice: one PaymentIntent per order, captured or released once.
    for campaign in campaigns:
        intents = intents_of(scaled, campaign["id"])
        ours = [o for o in orders if o["campaign"] is campaign]
        assert sorted(i["metadata"].get("order_id") for i in intents) == sorted(
            o["id"] for o in ours
        )
        if campaign is drop:
            assert {(i["status"], i["amount_received"]) for i in intents} == {
                ("succeeded", PRICE_CENTS)
            }
        else:
            assert {(i["status"], i["amount_received"]) for i in intents} == {("canceled", 0)}
    emitted: Counter[str] = Counter()
    for svc in scaled.instances["payments"]:
        for labels, value in samples(svc.base_url, "dropwave_events_emitted_total"):
            emitted[labels["event_type"]] += int(value)
    assert emitted["PaymentCaptured"] == len(captured)
    assert emitted["PaymentReleased"] == len(released)

    # One mail of each kind per buyer: the confirmation, then the receipt or the release.
    assert scaled.smtp is not None
    smtp = scaled.smtp
    last_words = {o["email"]: "You've been charged" for o in captured} | {
        o["email"]: "your hold is released" for o in released
    }

    def final_mail() -> list[Any] | None:
        mail = [m for m in smtp.messages() if m["To"] in last_words]
        done = {m["To"] for m in mail if last_words[m["To"]] in str(m["Subject"])}
        return mail if done == set(last_words) else None

    mail = eventually(final_mail, "every buyer's receipt or release", 60)
    kinds = Counter((m["To"], m["Subject"]) for m in mail)
    assert max(kinds.values()) == 1, [k for k, c in kinds.items() if c > 1]
    assert len({m["Message-ID"] for m in mail}) == len(mail)
    for buyer in last_words:
        subjects = [s for (to, s) in kinds if to == buyer]
        assert sum(s.startswith("You're buyer #") for s in subjects) == 1, subjects

    # 5. Shared, and once per service: each instance handled events; across a service's
    # instances each of the drop's events was handled exactly once.
    expected = {
        "CampaignPublished": len(campaigns),
        "OrderPlaced": len(orders),
        "OrderConfirmed": len(orders),
        "CampaignSucceeded": 1,
        "CampaignFailed": len(others),
        "PaymentCaptured": len(captured),
        "PaymentReleased": len(released),
    }
    for service in SERVICES:
        instances = scaled.instances[service]
        wanted = {t: k for t, k in expected.items() if t in handled_types(service)}
        assert wanted, service

        def totals(instances: list[Any] = instances) -> Counter[str]:
            total: Counter[str] = Counter()
            for svc in instances:
                total.update(handled(svc.base_url))
            return total

        eventually(
            lambda wanted=wanted, totals=totals: all(totals()[t] >= k for t, k in wanted.items()),
            f"{service} to handle the drop's events",
            60,
        )
        total = totals()
        assert {t: total[t] for t in wanted} == wanted, service
        per_instance = {svc.name: sum(handled(svc.base_url).values()) for svc in instances}
        assert all(count > 0 for count in per_instance.values()), (service, per_instance)

    # The gateway spread the API's requests over both instances of orders and campaigns.
    for service in ("orders", "campaigns"):
        answered = {svc.name: api_requests(svc.base_url) for svc in scaled.instances[service]}
        assert all(count > 0 for count in answered.values()), (service, answered)
