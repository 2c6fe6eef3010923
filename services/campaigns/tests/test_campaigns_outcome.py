"""The outcome is decided on orders' closing tally (ADR 0007), never on campaigns' own
counter: a counter that lags an in-flight cancel (or a late confirmation) cannot close a
campaign the wrong way; a cancelled campaign stays cancelled; a redelivered tally changes
nothing."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from campaigns import handlers
from campaigns.bootstrap import bootstrap
from campaigns.models import Campaign
from campaigns.settings import Settings
from dropwave_contracts.events import CampaignFailed, CampaignSucceeded, OrdersTallied
from dropwave_contracts.topics import parse_event
from dropwave_runtime.db import Database, outbox_table
from sqlalchemy import insert, select


async def seed(db: Database, current_orders: int, status: str = "active") -> uuid.UUID:
    campaign_id = uuid.uuid4()
    async with db.unit_of_work() as uow:
        await uow.session.execute(
            insert(Campaign).values(
                id=campaign_id,
                creator_id="alice",
                slug=f"c-{campaign_id.hex}",
                title="t",
                description="",
                price_cents=1000,
                currency="usd",
                min_orders=5,
                deadline=datetime.now(UTC) - timedelta(seconds=1),
                status=status,
                current_orders=current_orders,
                milestones_reached=[],
                images=[],
                theme={},
            )
        )
    return campaign_id


def tally(campaign_id: uuid.UUID, standing: int) -> OrdersTallied:
    return OrdersTallied(
        producer="orders",
        correlation_id=f"tally-{campaign_id}",
        campaign_id=campaign_id,
        min_orders=5,
        standing_orders=standing,
        placed_orders=standing + 1,
        cancelled_orders=1,
        failed_orders=0,
        authorizing_at_deadline=0,
        not_authorized_in_time=0,
        intake_closed_at=datetime.now(UTC),
    )


async def outcomes(db: Database) -> list[CampaignSucceeded | CampaignFailed]:
    async with db.sessions() as s:
        payloads = (await s.scalars(select(outbox_table.c.payload))).all()
    events = [parse_event(p) for p in payloads]
    return [e for e in events if isinstance(e, CampaignSucceeded | CampaignFailed)]


async def row(db: Database, campaign_id: uuid.UUID) -> Campaign:
    async with db.sessions() as s:
        campaign = await s.get(Campaign, campaign_id)
    assert campaign is not None
    return campaign


@pytest.mark.parametrize(
    ("counter", "standing", "expected"),
    [
        (5, 4, "failed"),  # the counter had not heard of a cancel yet: the tally decides
        (4, 5, "successful"),  # a confirmation the counter has not seen yet still counts
        (7, 7, "successful"),
        (0, 0, "failed"),
    ],
)
async def test_the_tally_decides_not_the_counter(
    db: Database, counter: int, standing: int, expected: str
) -> None:
    campaign_id = await seed(db, current_orders=counter)
    event = tally(campaign_id, standing)
    for _ in range(2):  # a redelivery changes nothing
        async with db.unit_of_work() as uow:
            await handlers.on_orders_tallied(event, uow)

    campaign = await row(db, campaign_id)
    assert (campaign.status, campaign.current_orders) == (expected, standing)
    [outcome] = await outcomes(db)
    assert isinstance(outcome, CampaignSucceeded if expected == "successful" else CampaignFailed)
    assert (outcome.confirmed_orders, outcome.min_orders) == (standing, 5)
    assert outcome.tally_event_id == event.event_id
    assert outcome.causation_id == str(event.event_id)
    assert outcome.closed_at == campaign.closed_at


async def test_a_campaign_cancelled_while_tallying_stays_cancelled(db: Database) -> None:
    campaign_id = await seed(db, current_orders=6, status="cancelled")
    async with db.unit_of_work() as uow:
        await handlers.on_orders_tallied(tally(campaign_id, 6), uow)
    assert (await row(db, campaign_id)).status == "cancelled"
    assert await outcomes(db) == []


async def test_the_service_decides_on_tallies_and_runs_no_deadline_scheduler() -> None:
    settings = Settings.model_validate(
        {
            "database_url": "postgresql+asyncpg://u@127.0.0.1:1/x",
            "kafka_bootstrap_servers": "127.0.0.1:1",
            "auth_jwks_url": "http://127.0.0.1:1/jwks.json",
            "auth_issuer": "test",
            "auth_audience": "test",
        }
    )
    rt = bootstrap(settings).state.runtime
    assert rt._handlers[OrdersTallied] is handlers.on_orders_tallied
    assert all("deadline" not in t.__name__ for t, _ in rt._background)
