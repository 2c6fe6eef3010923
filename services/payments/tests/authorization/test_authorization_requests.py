"""Issue 15, one Stripe request per order where one suffices, on real PostgreSQL against the
emulator through the fault proxy (which records every request it forwards): a drop closing
within the authorization's hold is authorized with the PaymentIntent alone; a drop that can
outlive it still saves the card on the order's Customer; an unanswered authorization
without a Customer is found by replaying the create under its key and released."""

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dropwave_contracts.events import (
    OrderCancelled,
    OrderPlaced,
    PaymentAuthorized,
    PaymentFailed,
    PaymentReleased,
)
from dropwave_devstack.faults import FaultPlan, FaultProxy
from dropwave_devstack.stripe_emulator import LocalStripe
from dropwave_runtime.db import Database
from dropwave_runtime.rate_limit import PgRateLimiter
from payments.authorization.handlers import on_order_cancelled, on_orders_placed
from payments.models import SettlementItem
from payments.settlement.queue import AUTHORIZE, RELEASE
from payments.settlement.worker import SettlementWorker, WorkerConfig
from payments.stripe_gateway import StripeGateway
from prometheus_client import REGISTRY

from ..conftest import RunQueue, cancelled, events, gateway_on, payment, placed

pytestmark = pytest.mark.timeout(120)

SHORT = timedelta(hours=2)
LONG = timedelta(days=30)
INTENT_CREATE = r"^POST /v1/payment_intents$"
AUTHORIZE_CALLS = r"^POST /v1/(customers|payment_intents)$"
CANCEL_CALLS = r"^POST /v1/payment_intents/[^/]+/cancel$"


def order(campaign_id: uuid.UUID, lasts: timedelta, pm: str | None = "pm_card_visa") -> OrderPlaced:
    """An order of a campaign whose deadline is ``lasts`` from now (as orders sends it)."""
    return placed(pm, campaign_id, 1500).model_copy(
        update={"campaign_deadline": datetime.now(UTC) + lasts}
    )


async def handle(db: Database, event: OrderPlaced | OrderCancelled) -> None:
    async with db.unit_of_work() as uow:
        if isinstance(event, OrderPlaced):
            await on_orders_placed([event], uow)
        else:
            await on_order_cancelled(event, uow)


def requests(proxy: FaultProxy) -> Counter[str]:
    """Every request that reached the proxy, by method and resource (ids dropped)."""
    return Counter(
        f"{e.method} {'/'.join(p for p in e.path.split('/') if not p.startswith(('pi_', 'cus_')))}"
        for e in proxy.exchanges
    )


def sent(resource: str) -> float:
    """``dropwave_stripe_requests_total`` of the resource, every method and outcome."""
    return sum(
        s.value
        for metric in REGISTRY.collect()
        if metric.name == "dropwave_stripe_requests"
        for s in metric.samples
        if s.name.endswith("_total") and s.labels.get("resource") == resource
    )


@pytest.fixture(scope="module")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStripe]:
    """This module's own emulator: ``intents_of`` lists every PaymentIntent it holds, and the
    session's holds thousands late in a run (a test here took 113 s of its 120 s beside the
    e2e tests; 7 s alone). localstripe lists by scanning its whole store for every page."""
    with LocalStripe(tmp_path_factory.mktemp("localstripe-authorization")) as emulator:
        yield emulator


@pytest.fixture(scope="module")
async def gateway(localstripe: LocalStripe) -> AsyncIterator[StripeGateway]:
    """The payments conftest's gateway, on this module's emulator."""
    gw = gateway_on(localstripe)
    yield gw
    await gw.aclose()


async def intents_of(gateway: StripeGateway, order_id: uuid.UUID) -> list[dict[str, Any]]:
    page = await gateway.client.v1.payment_intents.list_async({"limit": 100})
    found = [i.to_dict() async for i in page.auto_paging_iter()]
    return [i for i in found if (i.get("metadata") or {}).get("order_id") == str(order_id)]


async def test_a_short_drop_makes_one_stripe_request_per_order(
    db: Database,
    gateway: StripeGateway,
    faulty_gateway: StripeGateway,
    proxy: FaultProxy,
    run_queue: RunQueue,
) -> None:
    campaign_id = uuid.uuid4()
    orders = [order(campaign_id, SHORT) for _ in range(5)]
    for o in orders:
        await handle(db, o)
    customers_before, intents_before = sent("customers"), sent("payment_intents")
    await run_queue(gateway_=faulty_gateway)

    assert requests(proxy) == Counter({"POST /v1/payment_intents": 5}), "one request per order"
    assert (sent("customers"), sent("payment_intents")) == (customers_before, intents_before + 5)
    for o in orders:
        row = await payment(db, o.order_id)
        assert (row.status, row.save_card, row.customer_id) == ("authorized", False, None)
        [intent] = await intents_of(gateway, o.order_id)
        assert (intent["id"], intent["status"]) == (row.payment_intent_id, "requires_capture")
        assert (intent.get("customer"), intent.get("setup_future_usage")) == (None, None)


async def test_a_long_drop_still_saves_the_card_for_an_off_session_charge(
    db: Database,
    gateway: StripeGateway,
    faulty_gateway: StripeGateway,
    proxy: FaultProxy,
    run_queue: RunQueue,
) -> None:
    """The campaign can outlive the hold: the Customer, then the PaymentIntent saving the card
    on it, so a capture refused for an expired hold can charge it off-session."""
    campaign_id = uuid.uuid4()
    orders = [order(campaign_id, LONG) for _ in range(3)]
    for o in orders:
        await handle(db, o)
    await run_queue(gateway_=faulty_gateway)

    assert requests(proxy) == Counter({"POST /v1/customers": 3, "POST /v1/payment_intents": 3})
    for o in orders:
        row = await payment(db, o.order_id)
        assert (row.status, row.save_card) == ("authorized", True)
        assert row.customer_id is not None
        [intent] = await intents_of(gateway, o.order_id)
        assert (intent.get("customer"), intent.get("setup_future_usage")) == (
            row.customer_id,
            "off_session",
        )


async def test_an_unanswered_authorization_of_a_short_drop_is_found_and_released(
    db: Database,
    gateway: StripeGateway,
    faulty_gateway: StripeGateway,
    proxy: FaultProxy,
    run_queue: RunQueue,
) -> None:
    """Stripe made the PaymentIntent and the answer was lost; the buyer cancels. With no
    Customer to list, the release replays the create under ``authorize:<order>``: the emulator
    answers with the PaymentIntent it made (no second one), which is cancelled once."""
    o = order(uuid.uuid4(), SHORT)
    await handle(db, o)
    proxy.set_plan(FaultPlan(drop_response=1.0, match=INTENT_CREATE))
    slow = WorkerConfig(concurrency=1, retry_base_s=30, retry_max_s=30, poll_interval_s=0.01)
    assert await run_queue(gateway_=faulty_gateway, config=slow) == 1  # made, answer lost
    [made] = await intents_of(gateway, o.order_id)
    assert (made["status"], made.get("customer")) == ("requires_capture", None)
    assert (await payment(db, o.order_id)).payment_intent_id is None

    await handle(db, cancelled(o))
    proxy.set_plan(FaultPlan())
    await run_queue(gateway_=faulty_gateway)

    [after] = await intents_of(gateway, o.order_id)
    assert (after["id"], after["status"], after["amount_capturable"]) == (
        made["id"],
        "canceled",
        0,
    )
    assert sum(proxy.executed(INTENT_CREATE).values()) == 1, "the replay made nothing new"
    assert sum(proxy.executed(CANCEL_CALLS).values()) == 1
    assert not proxy.executed(r"^POST /v1/customers$")
    row = await payment(db, o.order_id)
    assert (row.status, row.customer_id) == ("released", None)
    [released] = await events(db, PaymentReleased)
    assert (released.order_id, released.payment_intent_id) == (o.order_id, made["id"])


async def test_an_authorization_of_a_short_drop_given_up_leaves_nothing_held(
    db: Database,
    gateway: StripeGateway,
    faulty_gateway: StripeGateway,
    proxy: FaultProxy,
    run_queue: RunQueue,
) -> None:
    """Every attempt failed with a 500 before Stripe acted: the payment fails
    (``authorization_unavailable``); the release's replay then makes the PaymentIntent the
    first attempt never did and cancels it at once: nothing stays held."""
    o = order(uuid.uuid4(), SHORT)
    await handle(db, o)
    proxy.set_plan(FaultPlan(error_500=1.0, match=AUTHORIZE_CALLS))
    config = WorkerConfig(authorize_max_attempts=2, retry_base_s=0.01, retry_max_s=0.01)
    lane = SettlementWorker(db, faulty_gateway, PgRateLimiter(db.engine, "stripe", 10_000), config)
    deadline = time.monotonic() + 20
    while await _status(db, o.order_id, AUTHORIZE) == "queued":
        assert time.monotonic() < deadline
        await lane.process_one(o.order_id)
        await asyncio.sleep(0.02)
    row = await payment(db, o.order_id)
    assert (row.status, row.failure_code) == ("failed", "authorization_unavailable")
    assert await intents_of(gateway, o.order_id) == [], "the 500s made nothing"

    proxy.set_plan(FaultPlan())
    await run_queue(gateway_=faulty_gateway)
    assert await _status(db, o.order_id, RELEASE) == "done"
    intents = await intents_of(gateway, o.order_id)
    assert [(i["status"], i["amount_capturable"]) for i in intents] == [("canceled", 0)]
    assert [e.failure_code for e in await events(db, PaymentFailed)] == [
        "authorization_unavailable"
    ]
    assert not await events(db, PaymentReleased), "the order failed: nothing to tell orders"


async def _status(db: Database, order_id: uuid.UUID, kind: str) -> str | None:
    async with db.sessions() as s:
        item = await s.get(SettlementItem, (order_id, kind))
    return item.status if item else None


class CountingLimiter(PgRateLimiter):
    """The shared limiter, counting its upserts (slots reserved per upsert)."""

    def __init__(self, db: Database, rate_per_s: float) -> None:
        super().__init__(db.engine, "stripe", rate_per_s)
        self.upserts: list[int] = []

    async def _reserve(self, n: int) -> float:
        self.upserts.append(n)
        return await super()._reserve(n)


async def test_a_batch_claims_sends_and_records_many_authorizations_at_once(
    db: Database,
    gateway: StripeGateway,
    faulty_gateway: StripeGateway,
    proxy: FaultProxy,
    run_queue: RunQueue,
) -> None:
    """One lane's batch (``authorize_batch``): short and long drops' orders and a cancelled
    one are claimed together, the cancelled one settled without a call, every other order's
    requests paced through one limiter upsert (a slot per request, handed out at the rate),
    each authorized once; a 500 on some sends only those back to the queue, and draining it
    afterwards still leaves one PaymentIntent per order."""
    campaign_id, rate = uuid.uuid4(), 100.0
    short = [order(campaign_id, SHORT) for _ in range(8)]
    long = [order(campaign_id, LONG) for _ in range(3)]
    gone = order(campaign_id, SHORT)
    for o in [*short, *long, gone]:
        await handle(db, o)
    await handle(db, cancelled(gone))
    proxy.set_plan(FaultPlan(error_500=0.3, match=INTENT_CREATE, seed=7))
    limiter = CountingLimiter(db, rate)
    worker = SettlementWorker(db, faulty_gateway, limiter, WorkerConfig(retry_base_s=0.01))

    t0 = time.monotonic()
    assert await worker.authorize_batch(50) == 12
    elapsed = time.monotonic() - t0

    assert limiter.upserts == [8 + 2 * 3], "one upsert: a slot per request, none for the cancel"
    assert elapsed >= (8 + 2 * 3 - 1) / rate * 0.9, "the batch's requests are paced"
    assert requests(proxy) == Counter({"POST /v1/payment_intents": 11, "POST /v1/customers": 3})
    statuses = Counter([(await payment(db, o.order_id)).status for o in [*short, *long]])
    retried = statuses["pending"]
    assert 0 < retried < 11, statuses
    assert statuses["authorized"] == 11 - retried, statuses
    assert (await payment(db, gone.order_id)).status == "released"
    assert not await intents_of(gateway, gone.order_id), "never sent: no call at all"

    proxy.set_plan(FaultPlan())
    await asyncio.sleep(0.05)  # the retries' backoff
    while await worker.authorize_batch(50):
        await asyncio.sleep(0.05)
    for o in [*short, *long]:
        row = await payment(db, o.order_id)
        [intent] = await intents_of(gateway, o.order_id)
        assert (row.status, row.payment_intent_id) == ("authorized", intent["id"])
    assert len(await events(db, PaymentAuthorized)) == 11


async def test_the_drop_closing_first_is_authorized_first(
    db: Database, gateway: StripeGateway
) -> None:
    """Earliest deadline first: a backlog of a drop closing in a month, queued first, waits
    while the orders of a drop closing in two hours are claimed; orders without a deadline
    (an ``OrderPlaced`` from before it carried one) come last."""
    backlog = [order(uuid.uuid4(), LONG) for _ in range(6)]
    unknown = placed("pm_card_visa", uuid.uuid4(), 1500)
    assert unknown.campaign_deadline is None
    soon = [order(uuid.uuid4(), SHORT) for _ in range(3)]
    for o in [*backlog, unknown, *soon]:
        await handle(db, o)
    worker = SettlementWorker(db, gateway, PgRateLimiter(db.engine, "stripe", 1000.0))

    assert await worker.authorize_batch(3) == 3
    done = {
        o.order_id
        for o in [*backlog, unknown, *soon]
        if (await payment(db, o.order_id)).status == "authorized"
    }
    assert done == {o.order_id for o in soon}
    assert await worker.authorize_batch(6) == 6
    assert (await payment(db, unknown.order_id)).status == "pending", "no deadline: last"
    assert await worker.authorize_batch(6) == 1
    assert (await payment(db, unknown.order_id)).status == "authorized"
