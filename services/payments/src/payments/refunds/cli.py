"""``python -m payments refund <order_id> [--amount-cents N]``: an operator's refund."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from dataclasses import asdict

from dropwave_runtime.cli import Command
from dropwave_runtime.db import Database
from dropwave_runtime.errors import DomainError

from ..settings import Settings
from ..stripe_gateway import StripeGateway
from .commands import RefundOrder
from .handlers import RefundOutcome, refund_order


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("order_id", type=uuid.UUID)
    parser.add_argument("--amount-cents", type=int, default=None, help="default: all that is left")


def _handle(args: argparse.Namespace, settings: Settings) -> int:
    if args.amount_cents is not None and args.amount_cents <= 0:
        sys.stderr.write("--amount-cents must be positive\n")
        return 2

    async def go() -> RefundOutcome:
        db = Database(settings.database_url, "payments", pool_size=1)
        gateway = StripeGateway.from_settings(settings)
        try:
            command = RefundOrder(args.order_id, args.amount_cents, creator_id=None)
            return await refund_order(command, db, gateway)
        finally:
            await gateway.aclose()
            await db.dispose()

    try:
        outcome = asyncio.run(go())
    except DomainError as error:
        sys.stderr.write(f"{error.code}: {error.message}\n")
        return 1
    sys.stdout.write(json.dumps(asdict(outcome)) + "\n")
    return 0


REFUND_COMMAND = Command("refund a captured order, fully or partly (operator)", _configure, _handle)
