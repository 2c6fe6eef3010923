"""``python -m payments reconcile [--repair]``: each drift as a JSON line, then a summary;
exit code 1 while any drift is left unrepaired."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict

from dropwave_runtime.cli import Command
from dropwave_runtime.db import Database

from ..settings import Settings
from ..stripe_gateway import StripeGateway
from .handlers import Drift, reconcile


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repair", action="store_true", help="move drifted payments forward")


def _handle(args: argparse.Namespace, settings: Settings) -> int:
    async def go() -> list[Drift]:
        db = Database(settings.database_url, "payments", pool_size=1)
        gateway = StripeGateway.from_settings(settings)
        try:
            return await reconcile(db, gateway, repair=args.repair)
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
