"""Campaign commands (``commands.py``, built by the routes) and reactions to events; each
runs in one unit of work. A refused command raises a domain error, never an HTTP problem."""

import uuid
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from dropwave_contracts.envelope import follow
from dropwave_contracts.events import (
    CampaignCancelled,
    CampaignCreated,
    CampaignFailed,
    CampaignMilestoneReached,
    CampaignPublished,
    CampaignStretchGoalReached,
    CampaignSucceeded,
    CampaignTipped,
    CampaignUpdated,
    CreatorPayoutsUpdated,
    OrderCancelled,
    OrderConfirmed,
    OrdersTallied,
)
from dropwave_runtime.db import UnitOfWork
from dropwave_runtime.errors import Conflict, NotFound
from dropwave_runtime.observability import correlation_id_var
from sqlalchemy import func, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from . import domain
from .activity import handlers as activity
from .commands import CancelCampaign, CreateCampaign, EditCampaign, PublishCampaign
from .creators.handlers import remember_creator
from .css import sanitize_css
from .models import Campaign, Creator
from .stats import handlers as stats

SERVICE = "campaigns"
SLUG_ATTEMPTS = 5


def _correlation_id() -> str:
    return correlation_id_var.get() or str(uuid.uuid4())


def clean_theme(theme: Mapping[str, Any] | None, css_hosts: Collection[str]) -> dict[str, Any]:
    """The theme as stored: custom CSS sanitized and scoped, empty values left out."""
    if not theme:
        return {}
    out = {k: v for k, v in theme.items() if v is not None}
    if out.get("custom_css"):
        out["custom_css"] = sanitize_css(out["custom_css"], css_hosts)
    return {k: v for k, v in out.items() if v}


PRESENTED = frozenset({"title", "description", "images", "theme"})
"""What the public page shows: an active campaign's change of any of them is announced."""


def presentation(campaign: Campaign) -> dict[str, Any]:
    """The page's presentation as ``CampaignPublished`` and ``CampaignUpdated`` carry it
    (``dropwave_contracts.events.PagePresentation``): every field stated, empty or not."""
    theme = campaign.theme or {}
    return {
        "description": campaign.description or "",
        "images": list(campaign.images or []),
        "theme_accent": theme.get("accent_color"),
        "custom_css": theme.get("custom_css") or "",
    }


async def create_campaign(
    command: CreateCampaign,
    uow: UnitOfWork,
    *,
    now: datetime,
    min_duration_s: int,
    css_hosts: Collection[str] = (),
) -> Campaign:
    """A draft owned by the creator, under a unique slug (from the title when none is given;
    a taken generated slug gets a random suffix, retried in a savepoint so concurrent
    creates of the same title both succeed). CampaignCreated tells orders its slug."""
    domain.check_deadline(command.deadline, now, min_duration_s)
    domain.check_price(command.price_cents, command.currency)
    domain.check_tiers(command.price_tiers, command.currency)
    domain.check_stretch_goals(command.stretch_goals, command.min_orders)
    session = uow.session
    creator_id = command.creator_id
    await remember_creator(uow, creator_id, command.creator_email)
    if command.slug:
        domain.check_slug_free_of_routes(command.slug)
    base = command.slug or domain.slugify(command.title)
    for attempt in range(SLUG_ATTEMPTS):
        slug = base if attempt == 0 else f"{base[:71]}-{uuid.uuid4().hex[:8]}"
        if slug in domain.RESERVED_SLUGS:
            continue  # a title like "Static": the next attempt adds a suffix
        campaign = Campaign(
            id=uuid.uuid4(),
            creator_id=creator_id,
            slug=slug,
            title=command.title,
            description=command.description,
            price_cents=command.price_cents,
            currency=command.currency,
            min_orders=command.min_orders,
            deadline=command.deadline,
            status="draft",
            current_orders=0,
            milestones_reached=[],
            images=list(command.images),
            theme=clean_theme(command.theme, css_hosts),
            price_tiers=[dict(t) for t in command.price_tiers],
            stretch_goals=[dict(g) for g in command.stretch_goals],
            stretch_goals_reached=[],
            highest_buyer_number=0,
            ship_to_countries=list(command.ship_to_countries),
        )
        try:
            async with session.begin_nested():
                session.add(campaign)
                await session.flush()
        except IntegrityError:
            if command.slug:
                raise Conflict("slug_taken", f"The slug {slug!r} is taken.") from None
            continue
        await uow.emit(
            CampaignCreated(
                producer=SERVICE,
                correlation_id=_correlation_id(),
                campaign_id=campaign.id,
                creator_id=creator_id,
                slug=campaign.slug,
                title=campaign.title,
                price_cents=campaign.price_cents,
                currency=campaign.currency,
                min_orders=campaign.min_orders,
                deadline=campaign.deadline,
                price_tiers=campaign.price_tiers,
            )
        )
        return campaign
    raise Conflict("slug_taken", "Could not find a free slug; pass one.")


async def owned_campaign(uow: UnitOfWork, campaign_id: uuid.UUID, creator_id: str) -> Campaign:
    """The creator's campaign, row-locked for the rest of the unit of work; NotFound or
    NotAllowed (someone else's) otherwise."""
    campaign = await _locked(uow, campaign_id)
    if campaign is None:
        raise NotFound("campaign_not_found", "No such campaign")
    domain.check_owner(campaign.creator_id, creator_id)
    return campaign


async def edit_campaign(
    command: EditCampaign,
    uow: UnitOfWork,
    *,
    now: datetime,
    min_duration_s: int,
    css_hosts: Collection[str] = (),
) -> Campaign:
    """Apply a partial edit. A rules field sent with its current value is not a change, so
    a client may send the whole object back after publishing. A new title, description,
    image list or theme of an active campaign is announced (CampaignUpdated, with the whole
    presentation): orders, notifications and the storefront keep a copy."""
    campaign = await owned_campaign(uow, command.campaign_id, command.creator_id)
    changes = dict(command.changes)
    if "theme" in changes:
        changes = {**changes, "theme": clean_theme(changes["theme"], css_hosts)}
    changed = {k: v for k, v in changes.items() if getattr(campaign, k) != v}
    domain.check_editable(campaign.status, changed)
    if "deadline" in changed:
        domain.check_deadline(changed["deadline"], now, min_duration_s)
    if changed.keys() & {"price_cents", "currency", "price_tiers"}:
        currency = changed.get("currency", campaign.currency)
        domain.check_price(changed.get("price_cents", campaign.price_cents), currency)
        domain.check_tiers(changed.get("price_tiers", campaign.price_tiers), currency)
    if changed.keys() & {"min_orders", "stretch_goals"}:
        domain.check_stretch_goals(
            changed.get("stretch_goals", campaign.stretch_goals),
            changed.get("min_orders", campaign.min_orders),
        )
    for name, value in changed.items():
        setattr(campaign, name, value)
    if campaign.status == "active" and changed.keys() & PRESENTED:
        await uow.emit(
            CampaignUpdated(
                producer=SERVICE,
                correlation_id=_correlation_id(),
                campaign_id=campaign.id,
                title=campaign.title,
                **presentation(campaign),
            )
        )
    await uow.session.flush()
    return campaign


async def publish_campaign(
    command: PublishCampaign,
    uow: UnitOfWork,
    *,
    now: datetime,
    min_duration_s: int,
    require_payouts: bool = False,
) -> Campaign:
    """Draft -> active and CampaignPublished, carrying the creator's email when known (the
    publishing token's claim, else the last one seen) so notifications can reach them."""
    campaign = await owned_campaign(uow, command.campaign_id, command.creator_id)
    domain.check_publishable(campaign.status, campaign.deadline, now, min_duration_s)
    await remember_creator(uow, campaign.creator_id, command.creator_email)
    creator = (
        await uow.session.execute(
            select(Creator.payouts_enabled, Creator.email).where(Creator.id == campaign.creator_id)
        )
    ).one()
    if require_payouts:
        domain.check_payouts(bool(creator.payouts_enabled), require_payouts)
    campaign.status = "active"
    campaign.published_at = now
    await uow.emit(
        CampaignPublished(
            producer=SERVICE,
            correlation_id=_correlation_id(),
            campaign_id=campaign.id,
            creator_id=campaign.creator_id,
            slug=campaign.slug,
            title=campaign.title,
            price_cents=campaign.price_cents,
            currency=campaign.currency,
            min_orders=campaign.min_orders,
            deadline=campaign.deadline,
            published_at=now,
            creator_email=creator.email,
            price_tiers=campaign.price_tiers,
            stretch_goals=campaign.stretch_goals,
            ship_to_countries=list(campaign.ship_to_countries or []),
            **presentation(campaign),
        )
    )
    return campaign


async def cancel_campaign(command: CancelCampaign, uow: UnitOfWork, *, now: datetime) -> Campaign:
    """Draft or active -> cancelled. Only an active campaign emits CampaignCancelled (orders
    stops taking orders, payments releases every hold); a draft was never seen outside."""
    campaign = await owned_campaign(uow, command.campaign_id, command.creator_id)
    domain.check_cancellable(campaign.status)
    was_active = campaign.status == "active"
    campaign.status = "cancelled"
    campaign.cancelled_at = now
    campaign.cancel_reason = command.reason
    if was_active:
        await uow.emit(
            CampaignCancelled(
                producer=SERVICE,
                correlation_id=_correlation_id(),
                campaign_id=campaign.id,
                reason=command.reason,
                cancelled_at=now,
            )
        )
    return campaign


async def creator_campaigns(
    session: AsyncSession,
    creator_id: str,
    limit: int,
    cursor: tuple[datetime, uuid.UUID] | None,
    status: str | None = None,
) -> list[Campaign]:
    """A creator's campaigns (drafts included), newest first, keyset-paginated."""
    query = select(Campaign).where(Campaign.creator_id == creator_id)
    if status is not None:
        query = query.where(Campaign.status == status)
    if cursor is not None:
        query = query.where(tuple_(Campaign.created_at, Campaign.id) < tuple_(*cursor))
    query = query.order_by(Campaign.created_at.desc(), Campaign.id.desc()).limit(limit)
    return list((await session.scalars(query)).all())


async def on_orders_tallied(event: OrdersTallied, uow: UnitOfWork) -> None:
    """Decide the outcome on orders' closing tally, never on the counter (which may lag an
    in-flight cancel): ``standing_orders >= min_orders`` succeeds, else fails. The counter is
    set to the tally, so the public view shows what was decided. A campaign the creator
    cancelled meanwhile stays cancelled (its holds are released anyway); a redelivered tally
    finds the campaign closed and changes nothing."""
    campaign = await _locked(uow, event.campaign_id)
    if campaign is None:
        raise LookupError(f"unknown campaign {event.campaign_id}")
    if campaign.status != "active":
        return
    now: datetime = (await uow.session.execute(select(func.now()))).scalar_one()
    campaign.status = domain.outcome(event.standing_orders, campaign.min_orders)
    campaign.current_orders = event.standing_orders
    campaign.closed_at = now
    event_cls = CampaignSucceeded if campaign.status == "successful" else CampaignFailed
    await uow.emit(
        follow(
            event,
            event_cls,
            producer=SERVICE,
            campaign_id=campaign.id,
            confirmed_orders=event.standing_orders,
            min_orders=campaign.min_orders,
            closed_at=now,
            tally_event_id=event.event_id,
        )
    )


async def on_creator_payouts_updated(event: CreatorPayoutsUpdated, uow: UnitOfWork) -> None:
    """Keep the creator's payout flag (the newest event wins; Stripe's order is not ours)."""
    values = {"payouts_enabled": event.payouts_enabled, "payouts_state_at": event.occurred_at}
    stmt = pg_insert(Creator).values(id=event.creator_id, **values)
    await uow.session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Creator.id],
            set_=values,
            where=(Creator.payouts_state_at.is_(None))
            | (Creator.payouts_state_at <= stmt.excluded.payouts_state_at),
        )
    )


async def _locked(uow: UnitOfWork, campaign_id: uuid.UUID) -> Campaign | None:
    return await uow.session.scalar(
        select(Campaign).where(Campaign.id == campaign_id).with_for_update()
    )


async def on_order_confirmed(event: OrderConfirmed, uow: UnitOfWork) -> None:
    """Count the order; announce milestones and the tipping point exactly once.

    The counter follows orders' confirmed, not-cancelled orders for the live view; it may
    lag, so it never decides the outcome (orders' closing tally does, ADR 0007).
    Announcements happen only while active and never twice: a count that drops below a
    milestone (buyer cancels) and crosses it again announces nothing, and `tipped_at` keeps
    the first time."""
    campaign = await _locked(uow, event.campaign_id)
    if campaign is None:
        raise LookupError(f"unknown campaign {event.campaign_id}")
    await stats.order_confirmed(event, uow)
    campaign.current_orders += 1
    campaign.highest_buyer_number = max(campaign.highest_buyer_number, event.buyer_number)
    if campaign.last_confirmed_at is None or event.occurred_at > campaign.last_confirmed_at:
        campaign.last_confirmed_at = event.occurred_at
    await activity.buyer_joined(uow, campaign, event.buyer_number)
    if campaign.status != "active":
        return
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
        # The tipping time covers every confirmation counted: notifications tells the buyers
        # confirmed by then that it tipped (the others hear it in their confirmation).
        campaign.tipped_at = campaign.last_confirmed_at
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
    await _announce_stretch_goals(event, uow, campaign)


async def _announce_stretch_goals(
    event: OrderConfirmed, uow: UnitOfWork, campaign: Campaign
) -> None:
    """Each stretch goal the count reaches, once: under the campaign's row lock (concurrent
    confirmations serialize) and recorded in ``stretch_goals_reached`` in the same
    transaction as the event (a redelivery is the inbox's, a count that drops and climbs
    again finds the goal announced). Goals are above the minimum, so the tipping comes
    first."""
    crossed = domain.stretch_goals_crossed(
        campaign.stretch_goals, campaign.stretch_goals_reached, campaign.current_orders
    )
    if not crossed:
        return
    reached = [g["orders"] for g in crossed]
    campaign.stretch_goals_reached = [*campaign.stretch_goals_reached, *reached]
    reached_at = campaign.last_confirmed_at or event.occurred_at
    for goal in crossed:
        await uow.emit(
            follow(
                event,
                CampaignStretchGoalReached,
                producer=SERVICE,
                campaign_id=campaign.id,
                goal_orders=goal["orders"],
                message=goal["message"],
                current_orders=campaign.current_orders,
                reached_at=reached_at,
            )
        )


async def on_order_cancelled(event: OrderCancelled, uow: UnitOfWork) -> None:
    """A confirmed order that is cancelled stops counting."""
    await stats.order_cancelled(event, uow)
    if not event.was_confirmed:
        return
    campaign = await _locked(uow, event.campaign_id)
    if campaign is None:
        raise LookupError(f"unknown campaign {event.campaign_id}")
    campaign.current_orders = max(campaign.current_orders - 1, 0)
    await activity.buyer_left(uow, campaign, event.buyer_number)
