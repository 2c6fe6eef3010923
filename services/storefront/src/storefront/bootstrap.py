"""Everything the storefront runs, in one list: its pages, the events that keep its read
model, and the listener that keeps its page cache current (docs/adr/0011-storefront.md)."""

from pathlib import Path

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
)
from dropwave_runtime.bootstrap import Service, Worker
from dropwave_runtime.consumer import Batched
from dropwave_runtime.db import Database
from dropwave_runtime.service import configure
from fastapi import FastAPI
from sqlalchemy import select

from . import handlers, jobs, routes
from .models import CampaignPage
from .pages import Fetch, Storefront
from .settings import Settings

SERVICE = Service(
    name="storefront",
    title="DropWave storefront",
    settings=Settings,
    migrations=Path(__file__).parent / "migrations",
    routers=[routes.router],
    direct_routes=[routes.campaign_page],  # a drop's page views (ADR 0011)
    events={
        CampaignPublished: handlers.on_campaign_published,
        CampaignUpdated: handlers.on_campaign_updated,
        CampaignTipped: handlers.on_campaign_tipped,
        CampaignStretchGoalReached: handlers.on_stretch_goal_reached,
        CampaignSucceeded: handlers.on_campaign_closed,
        CampaignFailed: handlers.on_campaign_closed,
        CampaignCancelled: handlers.on_campaign_cancelled,
        OrderConfirmed: Batched(handlers.on_order_confirmed, each=True),
        OrderCancelled: handlers.on_order_cancelled,
    },
    # Drops this process's cached pages: wherever pages are served.
    jobs=[Worker("page cache listener", jobs.page_cache_listener, role="api")],
    # Pages spend per-client budgets too; a page view is cheap (a cached render), so its
    # budget is generous: a shared address (an office, a carrier's NAT) is many visitors.
    rate_limited_prefix="/",
    route_rates={"campaign_page": "600/min", "static_asset": "1200/min"},
)


def reader(db: Database) -> Fetch:
    """The read model's row of a slug (one query; the page cache calls it on a miss)."""

    async def fetch(slug: str) -> CampaignPage | None:
        async with db.sessions() as session:
            return await session.scalar(select(CampaignPage).where(CampaignPage.slug == slug))

    return fetch


def bootstrap(settings: Settings) -> FastAPI:
    rt = configure(SERVICE.name, settings)
    storefront = Storefront(settings, reader(rt.db))
    return rt.wire(SERVICE, storefront=storefront)
