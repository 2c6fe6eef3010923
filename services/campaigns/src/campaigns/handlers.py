"""Commands from the API and reactions to events; each runs in one unit of work."""

import uuid
from datetime import datetime

from dropwave_contracts.envelope import follow
from dropwave_contracts.events import (
    CampaignMilestoneReached,
    CampaignPublished,
    CampaignTipped,
    OrderCancelled,
    OrderConfirmed,
)
from dropwave_runtime.db import UnitOfWork
from dropwave_runtime.observability import correlation_id_var
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import domain
from .models import Campaign, Creator
from .schemas import CampaignCreate

SERVICE = "campaigns"


async def create_campaign(uow: UnitOfWork, creator_id: str, body: CampaignCreate) -> Campaign:
    session = uow.session
    if await session.get(Creator, creator_id) is None:
        session.add(Creator(id=creator_id))
    slug = body.slug or domain.slugify(body.title)
    taken = await session.scalar(select(Campaign.id).where(Campaign.slug == slug))
    if taken is not None:
        if body.slug:
            raise domain.RuleViolation("slug_taken", f"The slug {slug!r} is taken.")
        slug = f"{slug[:71]}-{uuid.uuid4().hex[:8]}"
    campaign = Campaign(
        id=uuid.uuid4(),
        creator_id=creator_id,
        slug=slug,
        title=body.title,
        description=body.description,
        price_cents=body.price_cents,
        currency=body.currency,
        min_orders=body.min_orders,
        deadline=body.deadline,
        status="draft",
        current_orders=0,
        milestones_reached=[],
    )
    session.add(campaign)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise domain.RuleViolation("slug_taken", f"The slug {slug!r} is taken.") from exc
    return campaign


async def publish_campaign(
    uow: UnitOfWork, campaign: Campaign, now: datetime, min_duration_s: int
) -> Campaign:
    domain.check_publishable(campaign.status, campaign.deadline, now, min_duration_s)
    campaign.status = "active"
    campaign.published_at = now
    await uow.emit(
        CampaignPublished(
            producer=SERVICE,
            correlation_id=correlation_id_var.get() or str(uuid.uuid4()),
            campaign_id=campaign.id,
            creator_id=campaign.creator_id,
            slug=campaign.slug,
            title=campaign.title,
            price_cents=campaign.price_cents,
            currency=campaign.currency,
            min_orders=campaign.min_orders,
            deadline=campaign.deadline,
            published_at=now,
        )
    )
    return campaign


async def _locked(uow: UnitOfWork, campaign_id: uuid.UUID) -> Campaign | None:
    return await uow.session.scalar(
        select(Campaign).where(Campaign.id == campaign_id).with_for_update()
    )


async def on_order_confirmed(event: OrderConfirmed, uow: UnitOfWork) -> None:
    """Count the order; announce milestones and the tipping point exactly once."""
    campaign = await _locked(uow, event.campaign_id)
    if campaign is None:
        raise LookupError(f"unknown campaign {event.campaign_id}")
    campaign.current_orders += 1
    crossed = domain.milestones_crossed(
        campaign.milestones_reached, campaign.current_orders, campaign.min_orders
    )
    if crossed:
        campaign.milestones_reached = [*campaign.milestones_reached, *crossed]
    for percent in crossed:
        await uow.emit(
            follow(
                event,
                CampaignMilestoneReached,
                producer=SERVICE,
                campaign_id=campaign.id,
                percent=percent,
                current_orders=campaign.current_orders,
                min_orders=campaign.min_orders,
            )
        )
    if campaign.tipped_at is None and campaign.current_orders >= campaign.min_orders:
        campaign.tipped_at = event.occurred_at
        await uow.emit(
            follow(
                event,
                CampaignTipped,
                producer=SERVICE,
                campaign_id=campaign.id,
                current_orders=campaign.current_orders,
                min_orders=campaign.min_orders,
                tipped_at=campaign.tipped_at,
            )
        )


async def on_order_cancelled(event: OrderCancelled, uow: UnitOfWork) -> None:
    """A confirmed order that is cancelled stops counting."""
    if not event.was_confirmed:
        return
    campaign = await _locked(uow, event.campaign_id)
    if campaign is None:
        raise LookupError(f"unknown campaign {event.campaign_id}")
    campaign.current_orders = max(campaign.current_orders - 1, 0)
