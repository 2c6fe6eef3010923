"""``python -m orders close-now <campaign_id>``: close a campaign's intake now."""

import argparse
import asyncio
import sys
import uuid

from dropwave_runtime.cli import Command
from dropwave_runtime.db import Database
from dropwave_runtime.errors import DomainError

from ..models import CampaignSnapshot
from ..settings import Settings
from .commands import CloseNow
from .handlers import move_deadline_to_now
from .jobs import close_due


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("campaign_id", type=uuid.UUID)


async def close_now(db: Database, settings: Settings, command: CloseNow) -> str:
    """Move the deadline to now and run a closing round; says what happened."""
    async with db.unit_of_work() as uow:
        was = await move_deadline_to_now(uow, command)
    await close_due(db, settings)
    async with db.sessions() as session:
        campaign = await session.get(CampaignSnapshot, command.campaign_id)
    assert campaign is not None
    if campaign.tallied_at is not None:
        return (
            f"campaign {command.campaign_id}: intake closed (deadline was {was.isoformat()}), "
            "tallied; campaigns decides the outcome from the tally"
        )
    return (
        f"campaign {command.campaign_id}: intake closed (deadline was {was.isoformat()}); "
        f"{campaign.authorizing_at_close or 0} order(s) still authorizing: the closing job "
        f"tallies once they settle, at the latest after CLOSE_MAX_WAIT_S "
        f"({settings.close_max_wait_s:g} s)"
    )


def _handle(args: argparse.Namespace, settings: Settings) -> int:
    async def go() -> int:
        db = Database(settings.database_url, "orders", pool_size=2)
        try:
            sys.stdout.write(await close_now(db, settings, CloseNow(args.campaign_id)) + "\n")
            return 0
        except DomainError as error:
            sys.stderr.write(f"{error.code}: {error.message}\n")
            return 1
        finally:
            await db.dispose()

    return asyncio.run(go())


CLOSE_NOW_COMMAND = Command("close a campaign's intake now (then tally)", _configure, _handle)
