"""A campaign's capture or release run in figures: items, succeeded, failed, gross, platform
fee and net to the creator (stored when the run closes, live counts while it runs)."""

from __future__ import annotations

import uuid
from typing import Any

from dropwave_runtime.db import Database, UnitOfWork
from sqlalchemy import func, select

from ..models import Payment, Settlement, SettlementItem
from .queue import DONE, FAILED, QUEUED


async def item_totals(uow: UnitOfWork, campaign_id: uuid.UUID, kind: str) -> dict[str, Any]:
    i = SettlementItem
    row = (
        await uow.session.execute(
            select(
                func.count(),
                func.count().filter(i.status == DONE),
                func.count().filter(i.status == FAILED),
                func.count().filter(i.status == QUEUED),
                func.coalesce(func.sum(i.amount_cents).filter(i.status == DONE), 0),
                func.coalesce(func.sum(i.fee_cents).filter(i.status == DONE), 0),
            ).where(i.campaign_id == campaign_id, i.kind == kind)
        )
    ).one()
    currency = await uow.session.scalar(
        select(func.min(Payment.currency)).where(Payment.campaign_id == campaign_id)
    )
    return {
        "items": row[0],
        "succeeded": row[1],
        "failed": row[2],
        "queued": row[3],
        "gross_cents": int(row[4] or 0),
        "fee_cents": int(row[5] or 0),
        "currency": currency,
    }


async def settlement_summary(db: Database, campaign_id: uuid.UUID) -> dict[str, Any] | None:
    """The campaign's run as stored, with live counts while it is still running."""
    async with db.unit_of_work() as uow:
        run = await uow.session.get(Settlement, campaign_id)
        if run is None:
            return None
        totals = await item_totals(uow, campaign_id, run.kind)
    gross, fee = totals["gross_cents"], totals["fee_cents"]
    return {
        "campaign_id": str(campaign_id),
        "kind": run.kind,
        "status": run.status,
        "items": totals["items"],
        "succeeded": totals["succeeded"],
        "failed": totals["failed"],
        "queued": totals["queued"],
        "currency": totals["currency"],
        "gross_cents": gross,
        "platform_fee_cents": fee,
        "net_cents": gross - fee,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }
