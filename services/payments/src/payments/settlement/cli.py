"""Operators' commands: ``python -m payments settlement <campaign_id>`` (a run's summary)
and ``python -m payments queue`` (the work queue, ``settlement_items``):

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

from ..settings import Settings
from .queue import KINDS, RetryRefusedError, list_items, retry_item
from .summary import settlement_summary


def _configure_settlement(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("campaign_id", type=uuid.UUID, help="the campaign's id")


def _handle_settlement(args: argparse.Namespace, settings: Settings) -> int:
    async def fetch() -> dict[str, Any] | None:
        db = Database(settings.database_url, "payments", pool_size=1)
        try:
            return await settlement_summary(db, args.campaign_id)
        finally:
            await db.dispose()

    summary = asyncio.run(fetch())
    if summary is None:
        sys.stderr.write("no settlement or release for this campaign\n")
        return 1
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


SETTLEMENT_COMMAND = cli.Command(
    help="print a campaign's settlement (or release) summary as JSON: gross, platform fee, "
    "net to the creator, failures",
    configure=_configure_settlement,
    handle=_handle_settlement,
)
"""``python -m payments settlement <campaign_id>``"""


def _configure_queue(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="queue_command", required=True)
    listing = sub.add_parser("list", help="print queued and given-up items as JSON lines")
    listing.add_argument("--kind", choices=KINDS)
    listing.add_argument("--campaign", type=uuid.UUID, help="only this campaign's items")
    listing.add_argument("--all", action="store_true", help="done and skipped items too")
    retry = sub.add_parser("retry", help="make an order's items due now (requeue given-up)")
    retry.add_argument("order_id", type=uuid.UUID)
    retry.add_argument("--kind", choices=KINDS)


def _handle_queue(args: argparse.Namespace, settings: Settings) -> int:
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
    configure=_configure_queue,
    handle=_handle_queue,
)
"""``python -m payments queue list|retry``"""
