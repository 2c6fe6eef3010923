"""Buyers' contacts are erased PII_RETENTION_DAYS after their campaign closed (real
PostgreSQL), once; the campaigns still running keep theirs."""

from datetime import UTC, datetime, timedelta

from dropwave_runtime.db import Database
from dropwave_runtime.retention import erase_due
from notifications.models import Buyer, CampaignInfo
from notifications.retention import erase_round
from sqlalchemy import select

from .conftest import Drop, Handle


async def buyers(db: Database, drop: Drop) -> list[tuple[str | None, str | None, bool]]:
    async with db.sessions() as session:
        rows = await session.scalars(
            select(Buyer).where(Buyer.campaign_id == drop.campaign_id).order_by(Buyer.buyer_number)
        )
        return [(b.email, b.phone, b.sms_consent) for b in rows]


async def test_contacts_are_erased_a_retention_time_after_the_campaign_closed(
    db: Database, handle: Handle
) -> None:
    closed, running = Drop(), Drop()
    for drop in (closed, running):
        await handle(drop.published(), drop.placed(1), drop.placed(2, consent=False))
    await handle(closed.succeeded(2))
    async with db.sessions() as session:
        closed_at = await session.scalar(
            select(CampaignInfo.closed_at).where(CampaignInfo.campaign_id == closed.campaign_id)
        )
    assert closed_at is not None

    too_soon = closed_at + timedelta(days=29)
    assert await erase_due(db, erase_round, 30, now=too_soon) == 0
    assert (await buyers(db, closed))[0][0] == closed.email(1)

    later = closed_at + timedelta(days=31)
    assert await erase_due(db, erase_round, 30, now=later) == 2
    assert await buyers(db, closed) == [(None, None, False), (None, None, False)]
    assert (await buyers(db, running))[0] == (running.email(1), running.phone(1), True)
    assert await erase_due(db, erase_round, 30, now=later) == 0  # once


async def test_a_closing_told_twice_keeps_the_first_time(db: Database, handle: Handle) -> None:
    drop = Drop()
    await handle(drop.published())
    first = drop.failed(0)
    await handle(first)
    later = datetime(2040, 1, 1, tzinfo=UTC)
    await handle(drop.succeeded(9).model_copy(update={"closed_at": later}))
    async with db.sessions() as session:
        info = await session.get(CampaignInfo, drop.campaign_id)
    assert info is not None
    assert info.closed_at == first.closed_at
