"""The read model of the pages, from campaigns' and orders' events; each handler runs in
one unit of work (the runtime records the event in the inbox in it: a redelivery has no
second effect) and ``NOTIFY``s the page's slug, so every instance drops its cached page.

The two topics are read side by side, so an ``OrderConfirmed`` may come before its
campaign's ``CampaignPublished``: it then counts on a row without a page yet. Once the
outcome is known the count is the closing tally's and order events no longer move it.
"""

from typing import Any
from uuid import UUID

from dropwave_contracts.events import (
    CampaignCancelled,
    CampaignFailed,
    CampaignPublished,
    CampaignStretchGoalReached,
    CampaignSucceeded,
    CampaignTipped,
    CampaignUpdated,
    OrderCancelled,
    OrderConfirmed,
    PagePresentation,
)
from dropwave_runtime.db import UnitOfWork
from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from . import domain
from .cache import CHANNEL
from .models import CampaignPage

COUNTING = or_(CampaignPage.status.is_(None), CampaignPage.status == "active")
"""Rows whose count still follows the orders (not yet published, or running)."""


def _presentation(event: PagePresentation) -> dict[str, Any]:
    """The page's presentation the event states; none from an older event (it has none)."""
    if event.description is None:
        return {}
    return {
        "description": event.description,
        "images": list(event.images or []),
        # Kept only as "#rrggbb" (campaigns checks it too): it goes into the page's CSS.
        "theme_accent": domain.clean_accent(event.theme_accent),
        "custom_css": event.custom_css or "",
    }


async def _notify(session: AsyncSession, slug: str | None) -> None:
    if slug is not None:
        await session.execute(select(func.pg_notify(CHANNEL, slug)))


async def _update(uow: UnitOfWork, campaign_id: UUID, *where: Any, **values: Any) -> None:
    slug = await uow.session.scalar(
        update(CampaignPage)
        .where(CampaignPage.campaign_id == campaign_id, *where)
        .values(**values, updated_at=func.now())
        .returning(CampaignPage.slug)
    )
    await _notify(uow.session, slug)


async def on_campaign_published(event: CampaignPublished, uow: UnitOfWork) -> None:
    """The page appears (keeping what a row made by an early order counted)."""
    values = {
        "slug": event.slug,
        "title": event.title,
        "price_cents": event.price_cents,
        "currency": event.currency,
        "min_orders": event.min_orders,
        "deadline": event.deadline,
        "published_at": event.published_at,
        "price_tiers": [t.model_dump() for t in event.price_tiers],
        "stretch_goals": [g.model_dump() for g in event.stretch_goals],
        "ship_to_countries": list(event.ship_to_countries or []),
        **_presentation(event),
    }
    stmt = pg_insert(CampaignPage).values(campaign_id=event.campaign_id, status="active", **values)
    await uow.session.execute(
        stmt.on_conflict_do_update(
            index_elements=[CampaignPage.campaign_id],
            set_={
                **values,
                "status": func.coalesce(CampaignPage.status, "active"),
                "updated_at": func.now(),
            },
        )
    )
    await _notify(uow.session, event.slug)


async def on_campaign_updated(event: CampaignUpdated, uow: UnitOfWork) -> None:
    """A new title, description, images or theme (the rules never change once published)."""
    await _update(uow, event.campaign_id, title=event.title, **_presentation(event))


async def on_campaign_tipped(event: CampaignTipped, uow: UnitOfWork) -> None:
    await _update(
        uow, event.campaign_id, CampaignPage.tipped_at.is_(None), tipped_at=event.tipped_at
    )


async def on_stretch_goal_reached(event: CampaignStretchGoalReached, uow: UnitOfWork) -> None:
    """The goal shows as reached from now on (campaigns announces each once)."""
    reached = CampaignPage.stretch_goals_reached
    await _update(
        uow,
        event.campaign_id,
        ~reached.contains([event.goal_orders]),
        stretch_goals_reached=func.array_append(reached, event.goal_orders),
    )


async def on_campaign_closed(event: CampaignSucceeded | CampaignFailed, uow: UnitOfWork) -> None:
    """The outcome: the page says whether the drop happened and shows the closing tally
    from now on."""
    await _update(
        uow,
        event.campaign_id,
        CampaignPage.status == "active",
        status="successful" if isinstance(event, CampaignSucceeded) else "failed",
        joined=event.confirmed_orders,
        closed_at=event.closed_at,
    )


async def on_campaign_cancelled(event: CampaignCancelled, uow: UnitOfWork) -> None:
    """The page is gone (410)."""
    await _update(uow, event.campaign_id, status="cancelled", closed_at=event.cancelled_at)


async def on_order_confirmed(event: OrderConfirmed, uow: UnitOfWork) -> None:
    """One more joined (a row of its own when the campaign's page is not known yet)."""
    stmt = pg_insert(CampaignPage).values(
        campaign_id=event.campaign_id, joined=1, highest_buyer_number=event.buyer_number
    )
    slug = await uow.session.scalar(
        stmt.on_conflict_do_update(
            index_elements=[CampaignPage.campaign_id],
            set_={
                "joined": CampaignPage.joined + 1,
                "highest_buyer_number": func.greatest(
                    CampaignPage.highest_buyer_number, event.buyer_number
                ),
                "updated_at": func.now(),
            },
            where=COUNTING,
        ).returning(CampaignPage.slug)
    )
    await _notify(uow.session, slug)


async def on_order_cancelled(event: OrderCancelled, uow: UnitOfWork) -> None:
    """A confirmed order cancelled counts no more (its confirmation came first: one order's
    events keep their order)."""
    if not event.was_confirmed:
        return
    await _update(
        uow, event.campaign_id, COUNTING, joined=func.greatest(CampaignPage.joined - 1, 0)
    )
