"""Buyers' contacts (email, phone) are erased ``PII_RETENTION_DAYS`` after their campaign
closed (``dropwave_runtime.retention``): a message still caused for such a buyer finds no
address and ends ``failed`` without being sent. Deliveries keep only the order's id."""

from datetime import datetime, timedelta

from dropwave_runtime.db import Database, UnitOfWork
from dropwave_runtime.retention import erase_due, take_due
from sqlalchemy import update

from .models import Buyer, CampaignInfo
from .settings import Settings


async def erase_round(
    uow: UnitOfWork, now: datetime, retention: timedelta, max_campaigns: int = 10
) -> tuple[int, int]:
    """A few due campaigns (``SKIP LOCKED``: instances share the work); returns the campaigns
    and the buyers erased."""
    due = await take_due(
        uow.session,
        CampaignInfo.campaign_id,
        CampaignInfo.closed_at,
        CampaignInfo.pii_erased_at,
        now - retention,
        limit=max_campaigns,
    )
    if not due:
        return 0, 0
    erased = await uow.session.execute(
        update(Buyer)
        .where(Buyer.campaign_id.in_(due))
        .values(email=None, phone=None, sms_consent=False)
    )
    await uow.session.execute(
        update(CampaignInfo).where(CampaignInfo.campaign_id.in_(due)).values(pii_erased_at=now)
    )
    return len(due), int(getattr(erased, "rowcount", 0) or 0)


async def erase_expired(db: Database, settings: Settings, now: datetime | None = None) -> int:
    return await erase_due(db, erase_round, settings.pii_retention_days, now)
