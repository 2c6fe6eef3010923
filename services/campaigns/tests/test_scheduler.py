"""The deadline scheduler on a real database: instances racing over the same due campaigns
close each exactly once, campaigns that fell due while the process was down are closed
by the first round after start, and an order still authorizing at the deadline is waited
for (within the max wait)."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from campaigns import handlers, scheduler
from campaigns.app import create_app
from campaigns.models import Campaign, OrderOutcome
from campaigns.settings import Settings
from dropwave_contracts.events import (
    CampaignFailed,
    CampaignSucceeded,
    OrderConfirmed,
    OrderPlaced,
    PaymentFailed,
)
from dropwave_contracts.topics import parse_event
from dropwave_runtime.db import outbox_table
from dropwave_runtime.service import ServiceRuntime
from sqlalchemy import func, insert, select


@pytest.fixture
def campaigns_db_url(service_database: Callable[[str], str]) -> str:
    return service_database("campaigns")


def settings(url: str) -> Settings:
    # Auth settings for either auth scheme (dev secret or OIDC); extra keys are ignored.
    return Settings.model_validate(
        {
            "database_url": url,
            "kafka_bootstrap_servers": "127.0.0.1:1",  # never started here
            "auth_dev_secret": "test-secret",
            "auth_jwks_url": "http://127.0.0.1:1/jwks.json",
            "auth_issuer": "test",
            "auth_audience": "test",
            "deadline_poll_interval_s": 0.05,
            "close_settle_s": 0,
            "close_max_wait_s": 30,
        }
    )


@pytest.fixture
async def instances(campaigns_db_url: str) -> AsyncIterator[list[ServiceRuntime]]:
    """Two service runtimes (own engines and pools) on the same database."""
    runtimes = [ServiceRuntime("campaigns", settings(campaigns_db_url)) for _ in range(2)]
    yield runtimes
    for rt in runtimes:
        await rt.db.dispose()


async def seed(rt: ServiceRuntime, n: int, deadline: datetime, **extra: object) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(n)]
    rows = [
        {
            "id": i,
            "creator_id": "alice",
            "slug": f"c-{i.hex}",
            "title": "t",
            "description": "",
            "price_cents": 1000,
            "currency": "usd",
            "min_orders": 5,
            "deadline": deadline,
            "status": "active",
            "current_orders": k % 10,  # half reach the minimum of 5
            "milestones_reached": [],
            "images": [],
            "theme": {},
            **extra,
        }
        for k, i in enumerate(ids)
    ]
    async with rt.db.unit_of_work() as uow:
        await uow.session.execute(insert(Campaign), rows)
    return ids


async def closings(rt: ServiceRuntime) -> list[CampaignSucceeded | CampaignFailed]:
    async with rt.db.sessions() as s:
        payloads = (await s.scalars(select(outbox_table.c.payload))).all()
    events = [parse_event(p) for p in payloads]
    return [e for e in events if isinstance(e, CampaignSucceeded | CampaignFailed)]


@pytest.mark.timeout(60)
async def test_racing_instances_close_each_due_campaign_exactly_once(
    instances: list[ServiceRuntime],
) -> None:
    a, b = instances
    past = datetime.now(UTC) - timedelta(seconds=1)
    due = await seed(a, 60, past)
    future = await seed(a, 5, datetime.now(UTC) + timedelta(hours=1))

    counts = await asyncio.gather(
        *(scheduler.close_due(rt, batch=4) for rt in (a, b, a, b)),
    )
    assert sum(counts) == len(due)

    events = await closings(a)
    assert sorted(e.campaign_id for e in events) == sorted(due)  # each exactly once
    async with a.db.sessions() as s:
        rows = {c.id: c for c in (await s.scalars(select(Campaign))).all()}
    for e in events:
        row = rows[e.campaign_id]
        expected = "successful" if row.current_orders >= 5 else "failed"
        assert row.status == expected
        assert isinstance(e, CampaignSucceeded if expected == "successful" else CampaignFailed)
        assert (e.confirmed_orders, e.min_orders) == (row.current_orders, 5)
        assert e.closed_at == row.closed_at
    assert {rows[i].status for i in future} == {"active"}
    assert {type(e) for e in events} == {CampaignSucceeded, CampaignFailed}
    assert await scheduler.close_due(b) == 0  # nothing left, nothing twice


@pytest.mark.timeout(60)
async def test_campaign_due_while_down_is_closed_on_start(campaigns_db_url: str) -> None:
    cfg = settings(campaigns_db_url)
    app = create_app(cfg)
    rt = app.state.runtime
    assert isinstance(rt, ServiceRuntime)
    assert scheduler.deadline_scheduler in rt._background  # wired into the service

    [missed] = await seed(rt, 1, datetime.now(UTC) - timedelta(hours=6))
    [soon] = await seed(rt, 1, datetime.now(UTC) + timedelta(seconds=1))
    task = asyncio.create_task(scheduler.deadline_scheduler(rt))  # what start-up runs
    try:

        async def closed(campaign_id: uuid.UUID) -> Campaign:
            while True:
                async with rt.db.sessions() as s:
                    row = await s.get(Campaign, campaign_id)
                assert row is not None
                if row.status != "active":
                    return row
                await asyncio.sleep(0.05)

        row = await asyncio.wait_for(closed(missed), 10)
        assert row.status == "failed"  # current_orders 0 < 5
        row = await asyncio.wait_for(closed(soon), 10)
        assert row.closed_at is not None
        assert row.closed_at >= row.deadline
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await rt.db.dispose()
    assert sorted(e.campaign_id for e in await closings(rt)) == sorted([missed, soon])


def placed(campaign_id: uuid.UUID, buyer_number: int) -> OrderPlaced:
    return OrderPlaced(
        producer="orders",
        correlation_id="c",
        campaign_id=campaign_id,
        order_id=uuid.uuid4(),
        buyer_number=buyer_number,
        amount_cents=1000,
        currency="usd",
        buyer_email="b@example.com",
        buyer_phone=None,
        payment_method_id="pm_card_visa",
    )


def confirmed(order: OrderPlaced) -> OrderConfirmed:
    return OrderConfirmed.caused_by(
        order,
        producer="orders",
        campaign_id=order.campaign_id,
        order_id=order.order_id,
        buyer_number=order.buyer_number,
        amount_cents=order.amount_cents,
        currency=order.currency,
        buyer_email=order.buyer_email,
        buyer_phone=None,
        campaign_title="t",
        campaign_min_orders=5,
        campaign_deadline=datetime.now(UTC),
    )


def declined(order: OrderPlaced) -> PaymentFailed:
    return PaymentFailed.caused_by(
        order,
        producer="payments",
        campaign_id=order.campaign_id,
        order_id=order.order_id,
        payment_intent_id=None,
        failure_code="card_declined",
        decline_code="generic_decline",
        message="Your card was declined.",
    )


@pytest.mark.timeout(60)
async def test_an_order_authorizing_at_the_deadline_is_waited_for_and_counted(
    instances: list[ServiceRuntime],
) -> None:
    """Four confirmed before the deadline; the fifth is placed in time but confirmed after:
    the close waits for it and the campaign succeeds with 5 (not fails with 4)."""
    rt = instances[0]
    [campaign] = await seed(rt, 1, datetime.now(UTC) - timedelta(seconds=1), current_orders=4)
    late, failed_first = placed(campaign, 5), placed(campaign, 6)
    async with rt.db.unit_of_work() as uow:
        await handlers.on_payment_failed(declined(failed_first), uow)  # other topic, earlier
    for event in (late, failed_first):
        async with rt.db.unit_of_work() as uow:
            await handlers.on_order_placed(event, uow)

    assert await scheduler.close_due(rt) == 0  # the late order is still authorizing
    async with rt.db.unit_of_work() as uow:
        await handlers.on_order_confirmed(confirmed(late), uow)
    assert await scheduler.close_due(rt) == 1

    [closing] = await closings(rt)
    assert isinstance(closing, CampaignSucceeded)
    assert closing.confirmed_orders == 5
    async with rt.db.sessions() as s:
        left = await s.scalar(select(func.count()).select_from(OrderOutcome))
    assert left == 0  # tracking ends with the close


@pytest.mark.timeout(60)
async def test_an_order_that_never_finishes_does_not_hold_the_close_past_the_max_wait(
    instances: list[ServiceRuntime],
) -> None:
    rt = instances[0]
    [waiting] = await seed(rt, 1, datetime.now(UTC) - timedelta(seconds=5))
    [overdue] = await seed(rt, 1, datetime.now(UTC) - timedelta(seconds=31))
    for campaign in (waiting, overdue):
        async with rt.db.unit_of_work() as uow:
            await handlers.on_order_placed(placed(campaign, 1), uow)  # 3-D Secure, abandoned

    assert await scheduler.close_due(rt) == 1  # max wait is 30 s
    assert [e.campaign_id for e in await closings(rt)] == [overdue]
