"""The deadline scheduler on a real database: instances racing over the same due campaigns
close each exactly once, and campaigns that fell due while the process was down are closed
by the first round after start."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from campaigns import scheduler
from campaigns.app import create_app
from campaigns.models import Campaign
from campaigns.settings import Settings
from dropwave_contracts.events import CampaignFailed, CampaignSucceeded
from dropwave_contracts.topics import parse_event
from dropwave_runtime.db import outbox_table
from dropwave_runtime.service import ServiceRuntime
from sqlalchemy import insert, select


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
