"""``python -m payments reconcile [--repair] [--since WHEN]``: each drift as a JSON line,
then a summary; exit code 1 while any drift is left unrepaired. Its Stripe calls spend the
shared Stripe budget (``STRIPE_RATE_LIMIT``) like every instance's, so a reconciliation
never starves settlement; progress goes to stderr."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from dropwave_runtime.cli import Command
from dropwave_runtime.db import Database

from ..settings import Settings
from ..stripe_gateway import StripeGateway, stripe_budget
from .handlers import Drift, reconcile


def since(value: str) -> datetime:
    """``2026-11-30``, ``2026-11-30T12:00:00+00:00`` or a span back from now: ``36h``, ``7d``."""
    spans = {"h": 3600, "d": 86400}
    if value[-1:] in spans and value[:-1].isdigit():
        return datetime.now(UTC) - timedelta(seconds=int(value[:-1]) * spans[value[-1]])
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date, a time or a span like 7d: {value}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repair", action="store_true", help="move drifted payments forward")
    parser.add_argument(
        "--since",
        type=since,
        help="only payments created since: an ISO date or time (UTC unless given), or 36h, 7d",
    )


def _progress(what: str, count: int) -> None:
    sys.stderr.write(f"listed {count} {what}\n")


def _handle(args: argparse.Namespace, settings: Settings) -> int:
    async def go() -> list[Drift]:
        db = Database(settings.database_url, "payments", pool_size=2)
        gateway = StripeGateway.from_settings(
            settings, pace=stripe_budget(db.engine, settings).acquire
        )
        try:
            return await reconcile(
                db, gateway, repair=args.repair, since=args.since, progress=_progress
            )
        finally:
            await gateway.aclose()
            await db.dispose()

    drifts = asyncio.run(go())
    for drift in drifts:
        sys.stdout.write(json.dumps(asdict(drift)) + "\n")
    left = sum(1 for d in drifts if not d.repaired)
    sys.stdout.write(json.dumps({"drifts": len(drifts), "unrepaired": left}) + "\n")
    return 1 if left else 0


RECONCILE_COMMAND = Command(
    "compare payment states and refunded amounts with Stripe's; --repair moves drifted ones "
    "forward (and records refunds Stripe made that we missed)",
    _configure,
    _handle,
)
