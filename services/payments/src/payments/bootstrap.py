"""Everything the payments service runs, in one list: routes, event handlers, jobs, CLI.

Dependencies are built in ``bootstrap`` and reach handlers and jobs by parameter name
(``dropwave_runtime.bootstrap``); nothing connects here. No event handler calls Stripe:
they record and enqueue, and the settlement worker drains the queue (ADR 0005).
"""

from pathlib import Path

from dropwave_contracts.events import (
    CampaignCancelled,
    CampaignFailed,
    CampaignPublished,
    CampaignSucceeded,
    OrderCancelled,
    OrderPlaced,
    OrdersTallied,
)
from dropwave_runtime.bootstrap import Periodic, Service, Worker
from dropwave_runtime.rate_limit import PgRateLimiter
from dropwave_runtime.service import configure
from fastapi import FastAPI

from . import api, connect, handlers, payment_window, refunds, settlement
from .reconcile import RECONCILE_COMMAND
from .settings import Settings
from .stripe_gateway import StripeGateway
from .workqueue import QUEUE_COMMAND

SERVICE = Service(
    name="payments",
    title="DropWave payments",
    settings=Settings,
    migrations=Path(__file__).parent / "migrations",
    routers=[api.router, connect.router, refunds.router],
    webhook_prefixes=(api.STRIPE_WEBHOOKS,),
    events={
        OrderPlaced: handlers.on_order_placed,
        OrderCancelled: handlers.on_order_cancelled,
        OrdersTallied: handlers.on_orders_tallied,
        CampaignSucceeded: settlement.on_campaign_succeeded,
        CampaignFailed: settlement.on_campaign_failed,
        CampaignCancelled: settlement.on_campaign_cancelled,
        CampaignPublished: connect.on_campaign_published,
    },
    jobs=[
        Worker("settlement worker", settlement.settlement_worker),
        Periodic(
            "pay-later round",
            payment_window.pay_later_round,
            lambda settings: settings.pay_later_poll_interval_s,
        ),
    ],
    commands={
        "refund": refunds.REFUND_COMMAND,
        "reconcile": RECONCILE_COMMAND,
        "settlement": settlement.SETTLEMENT_COMMAND,
        "queue": QUEUE_COMMAND,
    },
)


def bootstrap(settings: Settings) -> FastAPI:
    rt = configure(SERVICE.name, settings)
    return rt.wire(
        SERVICE,
        gateway=StripeGateway.from_settings(settings),
        # One Stripe budget for every instance and every caller (ADR 0005).
        limiter=PgRateLimiter(
            rt.db.engine, "stripe", settings.stripe_rate_limit, settings.stripe_rate_limit_burst
        ),
        platform_fee_bps=settings.platform_fee_bps,
    )
