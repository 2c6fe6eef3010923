"""Operators' view of the work queue (``settlement_items``): ``python -m payments queue``.

* ``queue list [--kind K] [--campaign ID] [--all]``: one JSON line per item still queued or
  given up (``--all``: done and skipped too): order, campaign, kind, status, attempts, last
  error, next attempt. No personal data (the queue holds none).
* ``queue retry <order_id> [--kind K]``: make the order's queued items due now; an item
  given up on (``failed``) is queued again with a fresh attempt budget. An authorization
  given up on is not: its payment failed and orders failed the order.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from typing import Any

from dropwave_runtime import cli
from dropwave_runtime.db import Database
from sqlalchemy import func, select, update

from .models import Settlement, SettlementItem
from .settings import Settings

KINDS = ("authorize", "capture", "release")
OPEN = ("queued", "failed")


def _row(item: SettlementItem) -> dict[str, Any]:
    return {
        "order_id": str(item.order_id),
        "campaign_id": str(item.campaign_id),
        "kind": item.kind,
        "status": item.status,
        "attempts": item.attempts,
        "last_error": item.last_error,
        "next_attempt_at": item.next_attempt_at.isoformat(),
    }


async def list_items(
    db: Database,
    *,
    kind: str | None = None,
    campaign_id: uuid.UUID | None = None,
    include_finished: bool = False,
    limit: int = 10_000,
) -> list[dict[str, Any]]:
    """Items of the queue, the next due first."""
    query = select(SettlementItem).order_by(SettlementItem.next_attempt_at, SettlementItem.order_id)
    if kind is not None:
        query = query.where(SettlementItem.kind == kind)
    if campaign_id is not None:
        query = query.where(SettlementItem.campaign_id == campaign_id)
    if not include_finished:
        query = query.where(SettlementItem.status.in_(OPEN))
    async with db.sessions() as session:
        items = (await session.scalars(query.limit(limit))).all()
    return [_row(item) for item in items]


class RetryRefusedError(Exception):
    """Nothing a retry can do (e.g. an authorization given up on: the order failed)."""


async def retry_item(
    db: Database, order_id: uuid.UUID, *, kind: str | None = None
) -> list[dict[str, Any]]:
    """Make the order's queued items (of ``kind``) due now and queue given-up ones again;
    returns them as they are now. Raises :class:`RetryRefusedError` when none can be."""
    async with db.unit_of_work() as uow:
        query = select(SettlementItem).where(
            SettlementItem.order_id == order_id, SettlementItem.status.in_(OPEN)
        )
        if kind is not None:
            query = query.where(SettlementItem.kind == kind)
        items = (await uow.session.scalars(query.with_for_update())).all()
        retried: list[SettlementItem] = []
        refused: list[str] = []
        for item in items:
            if item.status == "failed" and item.kind == "authorize":
                refused.append("authorize (given up: the payment failed and the order with it)")
                continue
            if item.status == "failed":
                item.status = "queued"
                item.attempts = 0
            item.next_attempt_at = func.now()
            retried.append(item)
        if not retried:
            raise RetryRefusedError("; ".join(refused) or "no queued or given-up item")
        campaigns = {item.campaign_id for item in retried}
        await uow.session.execute(  # a closed run takes its item back
            update(Settlement)
            .where(Settlement.campaign_id.in_(campaigns), Settlement.status != "running")
            .where(Settlement.kind.in_({item.kind for item in retried}))
            .values(status="running", finished_at=None)
        )
        await uow.session.flush()
        for item in retried:
            await uow.session.refresh(item)
        return [_row(item) for item in retried]


def _configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="queue_command", required=True)
    listing = sub.add_parser("list", help="print queued and given-up items as JSON lines")
    listing.add_argument("--kind", choices=KINDS)
    listing.add_argument("--campaign", type=uuid.UUID, help="only this campaign's items")
    listing.add_argument("--all", action="store_true", help="done and skipped items too")
    retry = sub.add_parser("retry", help="make an order's items due now (requeue given-up)")
    retry.add_argument("order_id", type=uuid.UUID)
    retry.add_argument("--kind", choices=KINDS)


def _handle(args: argparse.Namespace, settings: Settings) -> int:
    async def go() -> list[dict[str, Any]]:
        db = Database(settings.database_url, "payments", pool_size=1)
        try:
            if args.queue_command == "list":
                return await list_items(
                    db, kind=args.kind, campaign_id=args.campaign, include_finished=args.all
                )
            return await retry_item(db, args.order_id, kind=args.kind)
        finally:
            await db.dispose()

    try:
        rows = asyncio.run(go())
    except RetryRefusedError as exc:
        sys.stderr.write(f"not retried: {exc}\n")
        return 1
    for row in rows:
        sys.stdout.write(json.dumps(row) + "\n")
    return 0


QUEUE_COMMAND = cli.Command(
    help="the work queue of authorizations, captures and releases: list, retry",
    configure=_configure,
    handle=_handle,
)
"""``python -m payments queue list|retry``"""
