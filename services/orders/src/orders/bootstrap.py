"""Everything the orders service runs, in one list: routes, event handlers, periodic jobs.

Dependencies are built in ``bootstrap`` and reach handlers and jobs by parameter name
(``dropwave_runtime.bootstrap``); nothing connects here.
"""

from pathlib import Path

from dropwave_contracts.events import (
    CampaignCancelled,
    CampaignCreated,
    CampaignFailed,
    CampaignPublished,
    CampaignSucceeded,
    CampaignUpdated,
    PaymentActionRequired,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentCaptureFailed,
    PaymentFailed,
    PaymentRefunded,
    PaymentReleased,
)
from dropwave_runtime.bootstrap import Periodic, Service
from dropwave_runtime.consumer import Batched
from dropwave_runtime.service import configure
from fastapi import FastAPI

from . import abuse, handlers, routes
from .closing import jobs as closing
from .closing.cli import CLOSE_NOW_COMMAND
from .fulfilment import jobs as fulfilment
from .fulfilment import routes as fulfilment_routes
from .intake import OrderIntake
from .settings import Settings

SERVICE = Service(
    name="orders",
    title="DropWave orders",
    settings=Settings,
    migrations=Path(__file__).parent / "migrations",
    commands={"close-now": CLOSE_NOW_COMMAND},
    routers=[routes.router, fulfilment_routes.router],
    direct_routes=[routes.place_order],  # a drop's every order (ADR 0001, fourth round)
    events={
        CampaignCreated: handlers.on_campaign_created,
        CampaignPublished: handlers.on_campaign_published,
        CampaignUpdated: handlers.on_campaign_updated,
        CampaignSucceeded: handlers.on_campaign_succeeded,
        CampaignFailed: handlers.on_campaign_failed,
        CampaignCancelled: handlers.on_campaign_cancelled,
        PaymentAuthorized: Batched(handlers.on_payment_authorized, each=True),
        PaymentActionRequired: handlers.on_payment_action_required,
        PaymentFailed: handlers.on_payment_failed,
        PaymentCaptured: Batched(handlers.on_payment_captured, each=True),
        PaymentCaptureFailed: handlers.on_payment_capture_failed,
        PaymentReleased: handlers.on_payment_released,
        PaymentRefunded: handlers.on_payment_refunded,
    },
    jobs=[
        Periodic(
            "closing round", closing.close_due, lambda settings: settings.close_poll_interval_s
        ),
        Periodic(
            "erasing personal data",
            fulfilment.erase_expired,
            lambda settings: settings.pii_erase_interval_s,
        ),
        Periodic(
            "reloading lockouts",
            abuse.reload_lockouts,
            lambda settings: settings.rate_limit_sync_s,
            level=abuse.RELOAD_LOG_LEVEL,
            role="api",  # the intake checks this process's in-memory lockouts
        ),
    ],
)


def bootstrap(settings: Settings) -> FastAPI:
    rt = configure(SERVICE.name, settings)
    policy = abuse.DeclinePolicy(
        settings.decline_lockout_threshold, settings.decline_window_s, settings.decline_lockout_s
    )
    return rt.wire(
        SERVICE,
        policy=policy,
        lockouts=abuse.Lockouts(policy, settings.exempt_networks),
        intake=OrderIntake(rt.db),
    )
