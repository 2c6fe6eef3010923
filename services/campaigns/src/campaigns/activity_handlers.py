"""Activity feed reactions and upkeep; each reaction runs in the unit of work of the event
that causes it, so the runtime's inbox makes every entry exactly-once.

Order-driven entries (buyer joined / left) are recorded from `handlers.on_order_confirmed`
and `handlers.on_order_cancelled`. Campaign-driven entries come from campaigns' own events
(`campaigns.events.v1`), consumed like any other: whichever code path emits
CampaignPublished/Tipped/Succeeded/... the feed follows, without touching it.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from dropwave_contracts.events import (
    CampaignCancelled,
    CampaignFailed,
    CampaignMilestoneReached,
    CampaignPublished,
    CampaignSucceeded,
    CampaignTipped,
)
from dropwave_runtime.db import Database, UnitOfWork

from . import activity
from .activity_domain import TokenBucket
from .activity_settings import ActivitySettings
from .live import LiveHub
from .models import Campaign

log = logging.getLogger(__name__)


async def buyer_joined(uow: UnitOfWork, campaign: Campaign, buyer_number: int) -> None:
    """After an order is counted: "Buyer #N joined" and the new counter, live."""
    await activity.record(uow.session, campaign.id, "buyer_joined", {"buyer_number": buyer_number})
    await activity.notify_counter(uow.session, campaign)


async def buyer_left(uow: UnitOfWork, campaign: Campaign, buyer_number: int) -> None:
    """After a counted order is cancelled."""
    await activity.record(
        uow.session, campaign.id, "order_cancelled", {"buyer_number": buyer_number}
    )
    await activity.notify_counter(uow.session, campaign)


async def _campaign(uow: UnitOfWork, campaign_id: UUID) -> Campaign:
    campaign = await uow.session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"unknown campaign {campaign_id}")
    return campaign


async def _status_changed(
    uow: UnitOfWork, campaign_id: UUID, kind: str, data: dict[str, Any]
) -> None:
    campaign = await _campaign(uow, campaign_id)
    await activity.record(uow.session, campaign_id, kind, data)
    await activity.notify_counter(uow.session, campaign)


async def on_campaign_published(event: CampaignPublished, uow: UnitOfWork) -> None:
    await _status_changed(uow, event.campaign_id, "campaign_published", {})


async def on_milestone_reached(event: CampaignMilestoneReached, uow: UnitOfWork) -> None:
    await activity.record(
        uow.session, event.campaign_id, "milestone_reached", {"percent": event.percent}
    )


async def on_campaign_tipped(event: CampaignTipped, uow: UnitOfWork) -> None:
    await activity.record(
        uow.session,
        event.campaign_id,
        "tipped",
        {"current_orders": event.current_orders, "min_orders": event.min_orders},
    )


async def on_campaign_succeeded(event: CampaignSucceeded, uow: UnitOfWork) -> None:
    data = {"confirmed_orders": event.confirmed_orders, "min_orders": event.min_orders}
    await _status_changed(uow, event.campaign_id, "campaign_succeeded", data)


async def on_campaign_failed(event: CampaignFailed, uow: UnitOfWork) -> None:
    data = {"confirmed_orders": event.confirmed_orders, "min_orders": event.min_orders}
    await _status_changed(uow, event.campaign_id, "campaign_failed", data)


async def on_campaign_cancelled(event: CampaignCancelled, uow: UnitOfWork) -> None:
    await _status_changed(uow, event.campaign_id, "campaign_cancelled", {})


# --- background upkeep --------------------------------------------------------------------


@dataclass
class ActivityFeature:
    """What the feed's routes and jobs share (the bootstrap provides it as ``feed``)."""

    settings: ActivitySettings
    hub: LiveHub
    limiter: TokenBucket
    clock: Callable[[], float] = field(default=time.monotonic)

    @classmethod
    def from_settings(cls, settings: ActivitySettings) -> "ActivityFeature":
        hub = LiveHub(
            settings.live_queue_size, settings.live_max_clients, settings.live_max_clients_per_ip
        )
        return cls(settings, hub, TokenBucket(settings.counter_rate_per_s, settings.counter_burst))


async def keep_partitions(db: Database, feed: ActivityFeature) -> None:
    """Keep this month's and the next months' partitions in place (idempotent)."""
    async with db.engine.begin() as conn:
        created = await activity.ensure_partitions(
            conn, datetime.now(UTC).date(), feed.settings.activity_partitions_ahead
        )
    if created:
        log.info("activity partitions created", extra={"months": [m.isoformat() for m in created]})


async def roll_up_counters(db: Database) -> None:
    """Fold view/share hits into the totals."""
    async with db.unit_of_work() as uow:
        await activity.roll_up(uow.session)


async def live_listener(db: Database, feed: ActivityFeature) -> None:
    """The process's one LISTEN connection, fanned out to its SSE clients."""
    await feed.hub.run(db)
