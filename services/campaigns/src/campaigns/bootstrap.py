"""Everything the campaigns service runs, in one list: routes, event handlers, periodic jobs.

Dependencies are built in ``bootstrap`` and reach handlers and jobs by parameter name
(``dropwave_runtime.bootstrap``); nothing connects here.
"""

from pathlib import Path

from dropwave_contracts.events import (
    CampaignCancelled,
    CampaignFailed,
    CampaignMilestoneReached,
    CampaignPublished,
    CampaignSucceeded,
    CampaignTipped,
    CreatorPayoutsUpdated,
    OrderCancelled,
    OrderConfirmed,
    OrderPlaced,
    OrdersTallied,
)
from dropwave_runtime.bootstrap import Periodic, Service, Worker
from dropwave_runtime.consumer import Batched
from dropwave_runtime.service import configure
from fastapi import FastAPI

from . import handlers, routes
from .activity import handlers as activity_handlers
from .activity import jobs as activity_jobs
from .activity import routes as activity_routes
from .activity.settings import ActivityFeature, ActivitySettings
from .creators import routes as creator_routes
from .settings import Settings
from .stats import handlers as stats_handlers
from .stats import routes as stats_routes

SERVICE = Service(
    name="campaigns",
    title="DropWave campaigns",
    settings=Settings,
    migrations=Path(__file__).parent / "migrations",
    routers=[routes.router, activity_routes.router, stats_routes.router, creator_routes.router],
    events={
        # Confirmations and cancels also reach the stats and the feed (from these handlers).
        OrderPlaced: Batched(stats_handlers.on_orders_placed),
        OrderConfirmed: Batched(handlers.on_order_confirmed, each=True),
        OrderCancelled: handlers.on_order_cancelled,
        OrdersTallied: handlers.on_orders_tallied,
        CreatorPayoutsUpdated: handlers.on_creator_payouts_updated,
        # The activity feed follows campaigns' own events, whichever code path emits them.
        CampaignPublished: activity_handlers.on_campaign_published,
        CampaignMilestoneReached: activity_handlers.on_milestone_reached,
        CampaignTipped: activity_handlers.on_campaign_tipped,
        CampaignSucceeded: activity_handlers.on_campaign_succeeded,
        CampaignFailed: activity_handlers.on_campaign_failed,
        CampaignCancelled: activity_handlers.on_campaign_cancelled,
    },
    jobs=[
        # Feeds this process's SSE clients: wherever the API runs.
        Worker("live listener", activity_jobs.live_listener, role="api"),
        Periodic(
            "activity partition upkeep",
            activity_jobs.keep_partitions,
            lambda feed: feed.settings.activity_partition_check_s,
        ),
        Periodic(
            "counter roll-up",
            activity_jobs.roll_up_counters,
            lambda feed: feed.settings.counter_rollup_interval_s,
        ),
    ],
)


def bootstrap(settings: Settings, activity_settings: ActivitySettings | None = None) -> FastAPI:
    rt = configure(SERVICE.name, settings)
    feed = ActivityFeature.from_settings(activity_settings or ActivitySettings())
    return rt.wire(SERVICE, feed=feed)
