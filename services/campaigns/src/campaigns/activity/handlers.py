"""Activity feed reactions; each runs in the unit of work of the event that causes it, so
the runtime's inbox makes every entry exactly-once.

Order-driven entries (buyer joined / left) are recorded from the core's
`campaigns.handlers.on_order_confirmed` and `on_order_cancelled`. Campaign-driven entries
come from campaigns' own events (`campaigns.events.v1`), consumed like any other: whichever
code path emits CampaignPublished/Tipped/Succeeded/... the feed follows, without touching it.
"""

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
from dropwave_runtime.db import UnitOfWork

from ..models import Campaign
from . import store


async def buyer_joined(uow: UnitOfWork, campaign: Campaign, buyer_number: int) -> None:
    """After an order is counted: "Buyer #N joined" and the new counter, live."""
    await store.record(uow.session, campaign.id, "buyer_joined", {"buyer_number": buyer_number})
    await store.notify_counter(uow.session, campaign)


async def buyer_left(uow: UnitOfWork, campaign: Campaign, buyer_number: int) -> None:
    """After a counted order is cancelled."""
    await store.record(uow.session, campaign.id, "order_cancelled", {"buyer_number": buyer_number})
    await store.notify_counter(uow.session, campaign)


async def _campaign(uow: UnitOfWork, campaign_id: UUID) -> Campaign:
    campaign = await uow.session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"unknown campaign {campaign_id}")
    return campaign


async def _status_changed(
    uow: UnitOfWork, campaign_id: UUID, kind: str, data: dict[str, Any]
) -> None:
    campaign = await _campaign(uow, campaign_id)
    await store.record(uow.session, campaign_id, kind, data)
    await store.notify_counter(uow.session, campaign)


async def on_campaign_published(event: CampaignPublished, uow: UnitOfWork) -> None:
    await _status_changed(uow, event.campaign_id, "campaign_published", {})


async def on_milestone_reached(event: CampaignMilestoneReached, uow: UnitOfWork) -> None:
    await store.record(
        uow.session, event.campaign_id, "milestone_reached", {"percent": event.percent}
    )


async def on_campaign_tipped(event: CampaignTipped, uow: UnitOfWork) -> None:
    await store.record(
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
