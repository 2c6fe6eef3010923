"""Settlement and release on real PostgreSQL against the real emulator: the durable queue,
the shared rate limiter, crashes and the injected faults of dropwave_devstack.faults."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dropwave_contracts.envelope import Event
from dropwave_contracts.events import (
    CampaignFailed,
    CampaignSucceeded,
    PaymentCaptured,
    PaymentCaptureFailed,
    PaymentReleased,
)
from dropwave_contracts.topics import parse_event
from dropwave_devstack.faults import FaultPlan, FaultProxy
from dropwave_runtime.db import Database, outbox_table
from dropwave_runtime.rate_limit import PgRateLimiter
from payments.domain import platform_fee_cents
from payments.models import Payment, SettlementItem
from payments.settlement.handlers import on_campaign_failed, on_campaign_succeeded
from payments.settlement.summary import settlement_summary
from payments.settlement.worker import SettlementWorker, WorkerConfig
from payments.stripe_gateway import AuthorizationRequest, CaptureResult, StripeGateway
from sqlalchemy import event as sa_event
from sqlalchemy import func, select, update

CAPTURE_CALLS = r"^POST /v1/payment_intents/[^/]+/capture$"
CANCEL_CALLS = r"^POST /v1/payment_intents/[^/]+/cancel$"

FAST = WorkerConfig(
    concurrency=8,
    max_attempts=20,
    retry_base_s=0.05,
    retry_max_s=0.5,
    poll_interval_s=0.05,
    platform_fee_bps=500,
)


@dataclass(frozen=True)
class Campaign:
    id: uuid.UUID
    orders: dict[uuid.UUID, str]
    """order id -> PaymentIntent id"""
    amount_cents: int
    amounts: dict[uuid.UUID, int]
    """order id -> its amount (all ``amount_cents`` unless the test varies them)"""


async def authorized_campaign(
    db: Database,
    gateway: StripeGateway,
    n: int,
    amount_cents: int = 2500,
    *,
    vary_amounts: bool = False,
    unconfirmed_every: int = 0,
) -> Campaign:
    """``n`` orders authorized on the emulator (manual capture) and recorded as payments.
    ``vary_amounts``: order ``i`` is for ``amount_cents + i`` cents, so a capture of the
    wrong PaymentIntent or amount shows. ``unconfirmed_every=k``: every k-th order is left
    for the buyer to confirm (``requires_action``: a PaymentIntent without a hold yet)."""
    campaign_id = uuid.uuid4()
    sem = asyncio.Semaphore(16)

    async def one(i: int) -> tuple[uuid.UUID, str, int, str]:
        order_id = uuid.uuid4()
        amount = amount_cents + i if vary_amounts else amount_cents
        unconfirmed = unconfirmed_every > 0 and i % unconfirmed_every == 0
        pm = None if unconfirmed else "pm_card_visa"
        async with sem:
            result = await gateway.authorize(
                AuthorizationRequest(order_id, campaign_id, amount, "eur", pm)
            )
        assert result.payment_intent_id is not None
        assert result.status.value == ("requires_action" if unconfirmed else "authorized")
        return order_id, result.payment_intent_id, amount, result.status.value

    authorized = await asyncio.gather(*(one(i) for i in range(n)))
    orders = {order_id: intent_id for order_id, intent_id, _, _ in authorized}
    amounts = {order_id: amount for order_id, _, amount, _ in authorized}
    statuses = {order_id: status for order_id, _, _, status in authorized}
    async with db.unit_of_work() as uow:
        uow.session.add_all(
            Payment(
                order_id=order_id,
                campaign_id=campaign_id,
                payment_intent_id=intent_id,
                status=statuses[order_id],
                amount_cents=amounts[order_id],
                currency="eur",
                correlation_id="corr-test",
            )
            for order_id, intent_id in orders.items()
        )
    return Campaign(campaign_id, orders, amount_cents, amounts)


async def succeed(db: Database, campaign: Campaign) -> None:
    event = CampaignSucceeded(
        producer="campaigns",
        correlation_id="corr-settle",
        campaign_id=campaign.id,
        confirmed_orders=len(campaign.orders),
        min_orders=1,
        closed_at=datetime.now(UTC),
    )
    async with db.unit_of_work() as uow:
        await on_campaign_succeeded(event, uow)


async def fail(db: Database, campaign: Campaign) -> None:
    event = CampaignFailed(
        producer="campaigns",
        correlation_id="corr-release",
        campaign_id=campaign.id,
        confirmed_orders=len(campaign.orders),
        min_orders=10_000,
        closed_at=datetime.now(UTC),
    )
    async with db.unit_of_work() as uow:
        await on_campaign_failed(event, uow)


def worker(
    db: Database,
    gateway: StripeGateway,
    rate_per_s: float = 500,
    config: WorkerConfig = FAST,
) -> SettlementWorker:
    limiter = PgRateLimiter(db.engine, "stripe", rate_per_s, burst=1)
    return SettlementWorker(db, gateway, limiter, config)


async def run_until_done(
    db: Database, campaign: Campaign, workers: Sequence[SettlementWorker], timeout: float
) -> dict[str, object]:
    """Run the workers until the campaign's run is closed; returns its summary."""
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            summary = await settlement_summary(db, campaign.id)
            if summary is not None and summary["status"] == "done":
                return summary
            await asyncio.sleep(0.1)
        raise AssertionError(f"settlement not done after {timeout}s: {summary}")
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def outbox_events(db: Database) -> list[Event]:
    async with db.sessions() as s:
        payloads = await s.scalars(select(outbox_table.c.payload).order_by(outbox_table.c.id))
        return [parse_event(p) for p in payloads]


async def event_counts(db: Database, cls: type[Event]) -> Counter[uuid.UUID]:
    """Per order id, how many events of ``cls`` were emitted."""
    events = await outbox_events(db)
    return Counter(e.order_id for e in events if isinstance(e, cls))  # type: ignore[attr-defined]


async def payment_statuses(db: Database, campaign: Campaign) -> Counter[str]:
    async with db.sessions() as s:
        rows = await s.scalars(select(Payment.status).where(Payment.campaign_id == campaign.id))
        return Counter(rows)


async def intent_statuses(gateway: StripeGateway, campaign: Campaign) -> Counter[str]:
    """The emulator's own view of every PaymentIntent of the campaign."""
    sem = asyncio.Semaphore(16)

    async def one(intent_id: str) -> str:
        async with sem:
            intent = await gateway.client.v1.payment_intents.retrieve_async(intent_id)
        return str(intent.status)

    return Counter(await asyncio.gather(*(one(i) for i in campaign.orders.values())))


# The shared limiter's own tests live with it: runtime/tests/test_rate_limit.py.


# --- the durable queue ------------------------------------------------------------------


async def assert_captured_exactly_once(
    db: Database, gateway: StripeGateway, proxy: FaultProxy, campaign: Campaign
) -> None:
    n = len(campaign.orders)
    executed = proxy.executed(CAPTURE_CALLS)
    paths = {f"/v1/payment_intents/{i}/capture" for i in campaign.orders.values()}
    assert set(executed) == paths, "every PaymentIntent captured by the emulator"
    assert max(executed.values()) == 1, "none captured twice"
    assert await intent_statuses(gateway, campaign) == Counter({"succeeded": n})
    assert await payment_statuses(db, campaign) == Counter({"captured": n})
    captured = await event_counts(db, PaymentCaptured)
    assert {o: captured[o] for o in campaign.orders} == dict.fromkeys(campaign.orders, 1)
    assert not await event_counts(db, PaymentCaptureFailed)


async def test_two_workers_capture_every_order_once_and_store_the_summary(
    db: Database,
    gateway: StripeGateway,
    faulty_gateway: StripeGateway,
    proxy: FaultProxy,
    db_url: str,
) -> None:
    campaign = await authorized_campaign(db, gateway, 40, amount_cents=2500)
    await succeed(db, campaign)
    await succeed(db, campaign)  # a redelivered outcome enqueues nothing new
    other = Database(db_url, "payments", pool_size=20)
    try:
        summary = await run_until_done(
            db, campaign, [worker(db, faulty_gateway), worker(other, faulty_gateway)], 60
        )
    finally:
        await other.dispose()
    await assert_captured_exactly_once(db, gateway, proxy, campaign)
    assert summary["kind"] == "capture"
    assert summary["items"] == 40
    assert summary["succeeded"] == 40
    assert summary["failed"] == 0
    assert summary["gross_cents"] == 40 * 2500
    assert summary["platform_fee_cents"] == 40 * 125  # 5 % of 25.00
    assert summary["net_cents"] == 40 * (2500 - 125)
    assert summary["currency"] == "eur"


class CrashAfterStripe:
    """A gateway that dies (its task is cancelled) right after Stripe captured, before the
    worker commits: the crash window that must not capture twice."""

    def __init__(self, inner: StripeGateway, crash_on: int) -> None:
        self.inner = inner
        self.calls = 0
        self.crash_on = crash_on

    async def capture(
        self, payment_intent_id: str, order_id: uuid.UUID, *, max_network_retries: int | None
    ) -> CaptureResult:
        result = await self.inner.capture(
            payment_intent_id, order_id, max_network_retries=max_network_retries
        )
        self.calls += 1
        if self.calls >= self.crash_on:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            await asyncio.sleep(0)
        return result

    async def release(
        self, payment_intent_id: str, order_id: uuid.UUID, *, max_network_retries: int | None
    ) -> None:
        raise AssertionError("not used")


async def test_crash_mid_settlement_then_resume_captures_nothing_twice(
    db: Database, gateway: StripeGateway, faulty_gateway: StripeGateway, proxy: FaultProxy
) -> None:
    campaign = await authorized_campaign(db, gateway, 30)
    await succeed(db, campaign)
    crashing = CrashAfterStripe(faulty_gateway, crash_on=12)
    limiter = PgRateLimiter(db.engine, "stripe", 500)
    doomed = SettlementWorker(db, crashing, limiter, FAST)
    task = asyncio.create_task(doomed.run())
    deadline = time.monotonic() + 30
    while crashing.calls < 12 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    task.cancel()  # the process dies: lanes cancelled mid-call, transactions rolled back
    await asyncio.gather(task, return_exceptions=True)
    async with db.sessions() as s:
        queued = await s.scalar(
            select(func.count()).where(
                SettlementItem.campaign_id == campaign.id, SettlementItem.status == "queued"
            )
        )
    assert queued, "the crash left work to resume"
    before = sum(proxy.executed(CAPTURE_CALLS).values())
    assert before >= 12
    await run_until_done(db, campaign, [worker(db, faulty_gateway)], 60)
    await assert_captured_exactly_once(db, gateway, proxy, campaign)
    replays = [e for e in proxy.exchanges if e.replayed]
    assert replays, "the resumed worker re-sent a capture the emulator had done (same key)"


@pytest.mark.parametrize(
    "plan",
    [
        FaultPlan(error_500=0.3, match=CAPTURE_CALLS, seed=1),
        FaultPlan(error_429=0.3, match=CAPTURE_CALLS, seed=2),
        FaultPlan(hang=0.2, match=CAPTURE_CALLS, seed=3),
        FaultPlan(drop_response=0.3, match=CAPTURE_CALLS, seed=4),
    ],
    ids=["500", "429", "timeout", "lost-response"],
)
@pytest.mark.timeout(90)
async def test_every_order_captured_exactly_once_under_each_fault(
    plan: FaultPlan,
    db: Database,
    gateway: StripeGateway,
    faulty_gateway: StripeGateway,
    proxy: FaultProxy,
) -> None:
    campaign = await authorized_campaign(db, gateway, 30)
    proxy.set_plan(plan)
    await succeed(db, campaign)
    summary = await run_until_done(db, campaign, [worker(db, faulty_gateway)], 60)
    proxy.set_plan(FaultPlan())
    assert sum(proxy.faults().values()) >= 3, "faults were injected"
    await assert_captured_exactly_once(db, gateway, proxy, campaign)
    assert summary["succeeded"] == 30


@pytest.mark.timeout(90)
async def test_failed_campaign_releases_every_hold_under_faults(
    db: Database, gateway: StripeGateway, faulty_gateway: StripeGateway, proxy: FaultProxy
) -> None:
    campaign = await authorized_campaign(db, gateway, 40)
    proxy.set_plan(
        FaultPlan(error_500=0.1, error_429=0.1, hang=0.05, drop_response=0.15, match=CANCEL_CALLS)
    )
    await fail(db, campaign)
    summary = await run_until_done(db, campaign, [worker(db, faulty_gateway)], 60)
    proxy.set_plan(FaultPlan())
    assert sum(proxy.faults().values()) >= 4
    assert summary["kind"] == "release"
    assert summary["succeeded"] == 40
    assert await intent_statuses(gateway, campaign) == Counter({"canceled": 40})
    assert await payment_statuses(db, campaign) == Counter({"released": 40})
    released = await event_counts(db, PaymentReleased)
    assert {o: released[o] for o in campaign.orders} == dict.fromkeys(campaign.orders, 1)
    await fail(db, campaign)  # twice is harmless: nothing new queued, nothing emitted
    async with db.sessions() as s:
        queued = await s.scalar(
            select(func.count()).where(
                SettlementItem.campaign_id == campaign.id, SettlementItem.status == "queued"
            )
        )
    assert queued == 0


async def test_capture_gives_up_cleanly_when_stripe_never_answers(
    db: Database, gateway: StripeGateway, faulty_gateway: StripeGateway, proxy: FaultProxy
) -> None:
    campaign = await authorized_campaign(db, gateway, 3)
    proxy.set_plan(FaultPlan(error_500=1.0, match=CAPTURE_CALLS))
    await succeed(db, campaign)
    config = WorkerConfig(max_attempts=3, retry_base_s=0.01, retry_max_s=0.02, poll_interval_s=0.05)
    summary = await run_until_done(db, campaign, [worker(db, faulty_gateway, config=config)], 30)
    assert summary["failed"] == 3
    assert summary["succeeded"] == 0
    assert summary["gross_cents"] == 0
    assert await payment_statuses(db, campaign) == Counter({"capture_failed": 3})
    failed = await event_counts(db, PaymentCaptureFailed)
    assert {o: failed[o] for o in campaign.orders} == dict.fromkeys(campaign.orders, 1)
    assert await intent_statuses(gateway, campaign) == Counter({"requires_capture": 3})


async def test_an_authorization_arriving_after_the_outcome_is_swept_in(
    db: Database, gateway: StripeGateway, faulty_gateway: StripeGateway, proxy: FaultProxy
) -> None:
    campaign = await authorized_campaign(db, gateway, 3)
    late_id = next(iter(campaign.orders))
    async with db.unit_of_work() as uow:  # still being authorized when the campaign closes
        payment = await uow.session.get(Payment, late_id)
        assert payment is not None
        payment.status = "pending"
    await succeed(db, campaign)
    w = worker(db, faulty_gateway)
    async with db.unit_of_work() as uow:
        payment = await uow.session.get(Payment, late_id)
        assert payment is not None
        payment.status = "authorized"
    await w.sweep()
    await run_until_done(db, campaign, [w], 30)
    await assert_captured_exactly_once(db, gateway, proxy, campaign)


# --- issue 4's proof: 1,000 orders under every fault at once ---------------------------------

ALL_FAULTS = {"error_500", "error_429", "hang", "drop_response"}
PROOF_RATE_PER_S = 400.0


async def two_instances_through_faults(
    db: Database,
    db_url: str,
    campaign: Campaign,
    gateway: StripeGateway,
    proxy: FaultProxy,
) -> tuple[dict[str, object], dict[str, int]]:
    """Two workers (own engines, as two instances) drain the run through the faulty proxy;
    returns the run's summary and the faults injected (every kind at least once)."""
    other = Database(db_url, "payments", pool_size=20)
    try:
        summary = await run_until_done(
            db,
            campaign,
            [worker(db, gateway, PROOF_RATE_PER_S), worker(other, gateway, PROOF_RATE_PER_S)],
            120,
        )
    finally:
        await other.dispose()
    proxy.set_plan(FaultPlan())
    faults = proxy.faults()
    assert set(faults) == ALL_FAULTS, faults
    return summary, faults


"""The limiter's rate in the 1,000-order proofs: raised from Stripe's 25/s test-mode limit so
each proof runs in well under a minute; how close settlement gets to the limit is
``make bench-settlement``'s job."""


def proof_orders() -> int:
    return int(os.environ.get("SETTLEMENT_TEST_ORDERS", "1000"))


async def campaign_intents(gateway: StripeGateway, campaign: Campaign) -> dict[str, dict[str, Any]]:
    """Every PaymentIntent the emulator holds for the campaign (listed by metadata), by id."""
    found: dict[str, dict[str, Any]] = {}
    async for intent in gateway.payment_intents():
        data = intent.to_dict()
        if (data.get("metadata") or {}).get("campaign_id") == str(campaign.id):
            found[data["id"]] = data
    return found


@pytest.mark.timeout(150)
async def test_1000_order_campaign_captures_every_order_exactly_once_under_all_faults(
    db: Database,
    gateway: StripeGateway,
    faulty_gateway: StripeGateway,
    proxy: FaultProxy,
    db_url: str,
) -> None:
    """Issue 4's "done when", capture half: 1,000 authorized orders, two workers (two
    instances: own engines, one shared limiter) racing over the queue while the proxy
    answers captures with 500s, 429s, hangs past the client timeout and responses lost
    after the emulator captured. Every order is captured exactly once, by the emulator's
    account as much as ours, with the right amounts."""
    n = proof_orders()
    campaign = await authorized_campaign(db, gateway, n, 1000, vary_amounts=True)
    proxy.set_plan(
        FaultPlan(
            error_500=0.05, error_429=0.05, hang=0.02, drop_response=0.08, match=CAPTURE_CALLS
        )
    )
    await succeed(db, campaign)
    summary, faults = await two_instances_through_faults(
        db, db_url, campaign, faulty_gateway, proxy
    )
    assert faults["drop_response"] >= n // 50, faults  # plenty of captures done, answer lost

    # The emulator's side: each PaymentIntent captured by exactly one executed request (the
    # retries after a lost answer were replays of the same idempotency key), for its amount.
    executed = proxy.executed(CAPTURE_CALLS)
    assert set(executed) == {f"/v1/payment_intents/{i}/capture" for i in campaign.orders.values()}
    assert set(executed.values()) == {1}, "no PaymentIntent captured twice"
    intents = await campaign_intents(gateway, campaign)
    assert set(intents) == set(campaign.orders.values())
    for order_id, intent_id in campaign.orders.items():
        intent = intents[intent_id]
        expected = campaign.amounts[order_id]
        assert (intent["status"], intent["amount_received"]) == ("succeeded", expected), intent
        assert intent["amount_capturable"] == 0
        assert intent["metadata"]["order_id"] == str(order_id)

    # Ours: every payment captured, one PaymentCaptured per order with its amount, no failure.
    assert await payment_statuses(db, campaign) == Counter({"captured": n})
    events = await outbox_events(db)
    captured = [e for e in events if isinstance(e, PaymentCaptured)]
    assert Counter(e.order_id for e in captured) == Counter(campaign.orders.keys())
    assert {e.order_id: e.amount_cents for e in captured} == campaign.amounts
    assert {e.order_id: e.payment_intent_id for e in captured} == campaign.orders
    assert not [e for e in events if isinstance(e, PaymentCaptureFailed)]
    gross = sum(campaign.amounts.values())
    assert (summary["items"], summary["succeeded"], summary["failed"]) == (n, n, 0)
    assert summary["gross_cents"] == gross
    assert summary["platform_fee_cents"] == sum(
        platform_fee_cents(a, 500) for a in campaign.amounts.values()
    )
    assert summary["net_cents"] == gross - summary["platform_fee_cents"]


@pytest.mark.timeout(150)
async def test_1000_order_failed_campaign_releases_every_hold_under_all_faults(
    db: Database,
    gateway: StripeGateway,
    faulty_gateway: StripeGateway,
    proxy: FaultProxy,
    db_url: str,
) -> None:
    """Issue 4's "done when", release half: a failed campaign of 1,000 orders (one in ten
    still waiting for the buyer to confirm, the rest held), two workers, every fault on the
    cancel calls. Every hold is released at the emulator, once,
    and every order gets one PaymentReleased; a redelivered CampaignFailed changes nothing."""
    n = proof_orders()
    campaign = await authorized_campaign(
        db, gateway, n, 1000, vary_amounts=True, unconfirmed_every=10
    )
    assert await payment_statuses(db, campaign) == Counter(
        {"authorized": n - (n + 9) // 10, "requires_action": (n + 9) // 10}
    )
    proxy.set_plan(
        FaultPlan(error_500=0.05, error_429=0.05, hang=0.02, drop_response=0.08, match=CANCEL_CALLS)
    )
    await fail(db, campaign)
    summary, faults = await two_instances_through_faults(
        db, db_url, campaign, faulty_gateway, proxy
    )
    assert faults["drop_response"] >= n // 50, faults

    executed = proxy.executed(CANCEL_CALLS)
    assert set(executed) == {f"/v1/payment_intents/{i}/cancel" for i in campaign.orders.values()}
    assert set(executed.values()) == {1}, "each hold released by one executed cancel"
    intents = await campaign_intents(gateway, campaign)
    assert set(intents) == set(campaign.orders.values())
    for intent in intents.values():
        assert intent["status"] == "canceled", intent
        assert (intent["amount_received"], intent["amount_capturable"]) == (0, 0), intent
    assert not proxy.executed(CAPTURE_CALLS), "nothing captured"

    assert await payment_statuses(db, campaign) == Counter({"released": n})
    released = await event_counts(db, PaymentReleased)
    assert {o: released[o] for o in campaign.orders} == dict.fromkeys(campaign.orders, 1)
    assert (summary["kind"], summary["items"], summary["succeeded"]) == ("release", n, n)
    assert (summary["failed"], summary["gross_cents"]) == (0, 0)

    await fail(db, campaign)  # redelivered: nothing queued, nothing emitted
    async with db.sessions() as s:
        queued = await s.scalar(
            select(func.count()).where(
                SettlementItem.campaign_id == campaign.id, SettlementItem.status == "queued"
            )
        )
    assert queued == 0
    assert sum((await event_counts(db, PaymentReleased)).values()) == n


async def test_idle_lanes_wait_to_be_woken_and_a_backoff_come_due_still_wakes_them(
    db: Database, gateway: StripeGateway
) -> None:
    """Idle, eight lanes look once each and then wait (NOTIFY or housekeeping wakes them):
    the worker's transactions over 2 s are housekeeping's, not eight lanes polling. An
    item whose backoff comes due (no NOTIFY for that) is still taken within a few
    housekeeping rounds."""
    checkouts: list[float] = []
    sa_event.listen(db.engine.sync_engine.pool, "checkout", lambda *_: checkouts.append(1.0))
    config = WorkerConfig(concurrency=8, poll_interval_s=0.2, idle_wait_s=60.0)
    w = worker(db, gateway, config=config)
    task = asyncio.create_task(w.run())
    try:
        await asyncio.sleep(0.5)  # the lanes' first look, the listener connecting
        checkouts.clear()
        await asyncio.sleep(2.0)
        # ~10 housekeeping rounds of a few checkouts each; polling lanes made 16 per 0.2 s.
        assert len(checkouts) <= 10 * 5, len(checkouts)

        campaign = await authorized_campaign(db, gateway, 1)
        succeeded = CampaignSucceeded(
            producer="campaigns",
            correlation_id="corr-idle",
            campaign_id=campaign.id,
            confirmed_orders=1,
            min_orders=1,
            closed_at=datetime.now(UTC),
        )
        # One transaction: the capture is queued (its NOTIFY goes out at commit) and put off
        # 0.3 s, so the lanes woken find nothing due, and nothing announces it coming due.
        async with db.unit_of_work() as uow:
            await on_campaign_succeeded(succeeded, uow)
            await uow.session.execute(
                update(SettlementItem).values(next_attempt_at=func.now() + timedelta(seconds=0.3))
            )
        summary = await run_until_done(db, campaign, [], 10)
        assert summary["succeeded"] == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_lane_claims_captures_in_batches_one_order_skipped_one_done_already(
    db: Database, gateway: StripeGateway, faulty_gateway: StripeGateway, proxy: FaultProxy
) -> None:
    """``capture_batch``: up to ``limit`` due captures per claim, their calls side by side;
    a cancelled order is skipped, one a webhook captured first is only marked done."""
    campaign = await authorized_campaign(db, gateway, 12)
    await succeed(db, campaign)
    cancelled, webhooked = list(campaign.orders)[:2]
    async with db.sessions() as s, s.begin():
        await s.execute(
            update(Payment)
            .where(Payment.order_id == cancelled)
            .values(cancel_requested_at=func.now())
        )
        await s.execute(
            update(Payment).where(Payment.order_id == webhooked).values(status="captured")
        )
    lane = worker(db, faulty_gateway)

    assert [await lane.capture_batch(10) for _ in range(3)] == [10, 2, 0]

    executed = proxy.executed(CAPTURE_CALLS)
    assert set(executed) == {
        f"/v1/payment_intents/{pi}/capture"
        for order, pi in campaign.orders.items()
        if order not in (cancelled, webhooked)
    }
    assert max(executed.values()) == 1
    statuses = await payment_statuses(db, campaign)
    assert statuses == Counter({"captured": 11, "authorized": 1})
    async with db.sessions() as s:
        items = {i.order_id: i.status for i in await s.scalars(select(SettlementItem))}
    assert (items[cancelled], items[webhooked]) == ("skipped", "done")
    assert Counter(items.values()) == Counter({"done": 11, "skipped": 1})
    captured = await event_counts(db, PaymentCaptured)
    assert sum(captured.values()) == 10  # the webhook's capture had its own event
