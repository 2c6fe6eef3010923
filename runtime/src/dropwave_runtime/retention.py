"""Buyers' personal data is kept only as long as needed: each service that holds some
(orders: email, phone, shipping and client address; notifications: email and phone) erases
it ``PII_RETENTION_DAYS`` after the campaign closed, by a periodic job built on this.

A round (the service's handler) erases a few due campaigns in one transaction and says how
many campaigns and orders it took; :func:`erase_due` runs rounds until none is due, and logs
counts only, never data."""

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from .db import Database, UnitOfWork
from .settings import ServiceSettings

log = logging.getLogger(__name__)

Round = Callable[[UnitOfWork, datetime, timedelta], Awaitable[tuple[int, int]]]
"""``(uow, now, retention) -> (campaigns, orders)`` erased in that transaction."""


class RetentionSettings(ServiceSettings):
    """``PII_RETENTION_DAYS``: how long after a campaign closed its buyers' personal data is
    kept; keep it above the time you may still refund or answer a card dispute.
    ``PII_ERASE_INTERVAL_S``: how often each instance looks for due campaigns."""

    pii_retention_days: float = Field(180.0, gt=0)
    pii_erase_interval_s: float = Field(3600.0, gt=0)


async def take_due(
    session: AsyncSession,
    campaign_id: InstrumentedAttribute[Any],
    closed_at: InstrumentedAttribute[Any],
    erased_at: InstrumentedAttribute[Any],
    cutoff: datetime,
    *where: ColumnElement[bool],
    limit: int = 10,
) -> Sequence[Any]:
    """Up to ``limit`` ids of campaigns closed before ``cutoff`` and not erased yet, locked
    (``SKIP LOCKED``: the instances share the work), oldest first."""
    query = (
        select(campaign_id)
        .where(closed_at < cutoff, erased_at.is_(None), *where)
        .order_by(closed_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(query)).all()


async def erase_due(
    db: Database, erase_round: Round, retention_days: float, now: datetime | None = None
) -> int:
    """Rounds until no campaign is due; returns the orders erased."""
    retention = timedelta(days=retention_days)
    erased = 0
    while True:
        async with db.unit_of_work() as uow:
            campaigns, orders = await erase_round(uow, now or datetime.now(UTC), retention)
        if not campaigns:
            break
        erased += orders
    if erased:
        log.info("buyers' personal data erased", extra={"orders": erased})
    return erased
