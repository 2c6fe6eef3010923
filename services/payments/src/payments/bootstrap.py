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
from dropwave_runtime.consumer import Batched
from dropwave_runtime.service import configure
from fastapi import FastAPI

from .authorization import handlers as authorization
from .connect import handlers as connect
from .connect import routes as connect_routes
from .domain import CardSaving
from .pay_later import jobs as pay_later
from .pay_later import routes as pay_later_routes
from .reconciliation.cli import RECONCILE_COMMAND
from .refunds import routes as refunds_routes
from .refunds.cli import REFUND_COMMAND
from .settings import Settings
from .settlement import handlers as settlement
from .settlement.cli import QUEUE_COMMAND, SETTLEMENT_COMMAND
from .settlement.worker import settlement_worker
from .stripe_gateway import StripeGateway, stripe_budget
from .webhooks import routes as webhooks_routes

SERVICE = Service(
    name="payments",
    title="DropWave payments",
    settings=Settings,
    migrations=Path(__file__).parent / "migrations",
    routers=[
        webhooks_routes.router,
        pay_later_routes.router,
        connect_routes.router,
        refunds_routes.router,
    ],
    webhook_prefixes=(webhooks_routes.STRIPE_WEBHOOKS,),
    direct_routes=[webhooks_routes.stripe_webhook],  # three per order in a drop (ADR 0005)
    events={
        OrderPlaced: Batched(authorization.on_orders_placed),
        OrderCancelled: authorization.on_order_cancelled,
        OrdersTallied: settlement.on_orders_tallied,
        CampaignSucceeded: settlement.on_campaign_succeeded,
        CampaignFailed: settlement.on_campaign_failed,
        CampaignCancelled: settlement.on_campaign_cancelled,
        CampaignPublished: connect.on_campaign_published,
    },
    jobs=[
        Worker("settlement worker", settlement_worker),
        Periodic(
            "pay-later round",
            pay_later.pay_later_round,
            lambda settings: settings.pay_later_poll_interval_s,
        ),
    ],
    commands={
        "refund": REFUND_COMMAND,
        "reconcile": RECONCILE_COMMAND,
        "settlement": SETTLEMENT_COMMAND,
        "queue": QUEUE_COMMAND,
    },
)


def bootstrap(settings: Settings) -> FastAPI:
    rt = configure(SERVICE.name, settings)
    gateway = StripeGateway.from_settings(
        settings, trace_configs=rt.tracing.aiohttp_trace_configs()
    )
    return rt.wire(
        SERVICE,
        gateway=gateway,
        # One Stripe budget for every instance and every caller (ADR 0005).
        limiter=stripe_budget(rt.db.engine, settings),
        platform_fee_bps=settings.platform_fee_bps,
        card_saving=CardSaving(settings.authorization_hold_s, settings.settlement_margin_s),
    )
