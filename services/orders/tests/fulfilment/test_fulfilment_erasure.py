"""Buyers' personal data is erased PII_RETENTION_DAYS after their campaign closed (real
PostgreSQL): email, phone, address and client address go; the books stay."""

import uuid
from datetime import UTC, datetime, timedelta

from dropwave_contracts.events import CampaignFailed, CampaignSucceeded
from dropwave_runtime.db import Database
from orders import handlers
from orders.fulfilment.jobs import erase_expired
from orders.models import CampaignSnapshot, Order
from orders.settings import Settings
from sqlalchemy import select

from tests.factories import event

from ..conftest import AUTH, MakeCampaign

NOW = datetime(2030, 6, 1, tzinfo=UTC)


def settings(days: float) -> Settings:
    return Settings(
        database_url="postgresql+asyncpg://unused/x",
        kafka_bootstrap_servers="127.0.0.1:1",
        order_token_secret="x" * 32,
        pii_retention_days=days,
        **AUTH,
    )


async def add_order(db: Database, campaign_id: uuid.UUID, number: int) -> uuid.UUID:
    order_id = uuid.uuid4()
    async with db.unit_of_work() as uow:
        uow.session.add(
            Order(
                id=order_id,
                campaign_id=campaign_id,
                buyer_number=number,
                status="captured",
                amount_cents=2500,
                currency="usd",
                buyer_email=f"buyer{number}@example.com",
                buyer_phone="+14155550100",
                sms_consent=True,
                shipping_address={"name": "Ada", "street_address": "1 Main St"},
                client_ip="203.0.113.9",
                referral_code="tiktok-1",
                idempotency_key=f"k{number}",
                request_fingerprint="f" * 64,
            )
        )
    return order_id


async def order(db: Database, order_id: uuid.UUID) -> Order:
    async with db.sessions() as session:
        found = await session.get(Order, order_id)
    assert found is not None
    return found


async def test_erasure_takes_closed_campaigns_past_retention_only(
    db: Database, make_campaign: MakeCampaign
) -> None:
    old = await make_campaign("successful", closed_at=NOW - timedelta(days=31))
    recent = await make_campaign("failed", closed_at=NOW - timedelta(days=29))
    running = await make_campaign("active")
    erased_id = await add_order(db, old, 1)
    kept = [await add_order(db, recent, 1), await add_order(db, running, 1)]

    assert await erase_expired(db, settings(30), now=NOW) == 1
    gone = await order(db, erased_id)
    assert (gone.buyer_email, gone.buyer_phone, gone.shipping_address, gone.client_ip) == (
        None,
        None,
        None,
        None,
    )
    assert gone.pii_erased_at == NOW
    # The books and the stats stay.
    assert (gone.buyer_number, gone.status, gone.amount_cents, gone.referral_code) == (
        1,
        "captured",
        2500,
        "tiktok-1",
    )
    for order_id in kept:
        assert (await order(db, order_id)).buyer_email is not None
    async with db.sessions() as session:
        marked = await session.scalar(
            select(CampaignSnapshot.pii_erased_at).where(CampaignSnapshot.id == old)
        )
    assert marked == NOW
    assert await erase_expired(db, settings(30), now=NOW) == 0  # once


async def test_more_due_campaigns_than_a_round_takes_are_all_erased(
    db: Database, make_campaign: MakeCampaign
) -> None:
    campaigns = [
        await make_campaign("cancelled", closed_at=NOW - timedelta(days=400)) for _ in range(12)
    ]
    orders = [await add_order(db, c, 1) for c in campaigns[1:]]  # one campaign has none
    assert await erase_expired(db, settings(180), now=NOW) == 11
    for order_id in orders:
        assert (await order(db, order_id)).buyer_email is None


async def test_a_campaigns_outcome_sets_when_it_closed(
    db: Database, make_campaign: MakeCampaign
) -> None:
    won, lost = await make_campaign(), await make_campaign()
    closed = datetime(2030, 1, 2, tzinfo=UTC)
    async with db.unit_of_work() as uow:
        await handlers.on_campaign_succeeded(
            event(CampaignSucceeded, campaign_id=won, closed_at=closed), uow
        )
        await handlers.on_campaign_failed(
            event(CampaignFailed, campaign_id=lost, closed_at=closed), uow
        )
    async with db.unit_of_work() as uow:  # a redelivery later keeps the first time
        await handlers.on_campaign_failed(
            event(CampaignFailed, campaign_id=lost, closed_at=closed + timedelta(days=9)), uow
        )
    async with db.sessions() as session:
        rows = (
            await session.execute(
                select(CampaignSnapshot.id, CampaignSnapshot.status, CampaignSnapshot.closed_at)
            )
        ).all()
    assert {(r.id, r.status, r.closed_at) for r in rows} == {
        (won, "successful", closed),
        (lost, "failed", closed),
    }
