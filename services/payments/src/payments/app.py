"""The payments service: wiring only (nothing connects at import time)."""

from __future__ import annotations

from dropwave_contracts.events import (
    CampaignCancelled,
    CampaignFailed,
    CampaignSucceeded,
    OrderCancelled,
    OrderPlaced,
    OrdersTallied,
)
from dropwave_runtime.db import UnitOfWork
from dropwave_runtime.rate_limit import PgRateLimiter
from dropwave_runtime.service import ServiceRuntime, configure
from fastapi import FastAPI

from . import api, connect, payment_window, refunds, settlement
from .handlers import on_order_cancelled, on_order_placed, on_orders_tallied
from .settings import Settings
from .stripe_gateway import StripeGateway


def create_app(settings: Settings) -> FastAPI:
    rt = configure("payments", settings)
    # One Stripe budget for every instance and every caller (ADR 0005); nothing connects yet.
    limiter = PgRateLimiter(
        rt.db.engine, "stripe", settings.stripe_rate_limit, settings.stripe_rate_limit_burst
    )
    # The worker paces its own Stripe calls (authorize, capture, release) with the limiter.
    gateway = StripeGateway.from_settings(settings)

    async def handle_order_placed(event: OrderPlaced, uow: UnitOfWork) -> None:
        await on_order_placed(event, uow, settings.platform_fee_bps)

    # No Stripe call in these handlers: they record and enqueue (settlement.py drains).
    rt.on(OrderPlaced, handle_order_placed)
    rt.on(OrderCancelled, on_order_cancelled)
    rt.on(OrdersTallied, on_orders_tallied)

    # Settlement / release: the outcome handlers enqueue, the worker drains the queue
    # (authorizations too).
    rt.on(CampaignSucceeded, settlement.on_campaign_succeeded)
    rt.on(CampaignFailed, settlement.on_campaign_failed)
    rt.on(CampaignCancelled, settlement.on_campaign_cancelled)

    async def settlement_worker(runtime: ServiceRuntime[Settings]) -> None:
        config = settlement.WorkerConfig.from_settings(settings)
        await settlement.SettlementWorker(runtime.db, gateway, limiter, config).run()

    rt.background(settlement_worker)
    connect.install(rt, gateway)  # creators' Connect accounts, campaign -> creator map
    payment_window.install(rt, gateway)  # pay-later reminders and expiry
    app = rt.create_app(
        [api.router, connect.router, refunds.router],
        title="DropWave payments",
        webhook_prefixes=(api.STRIPE_WEBHOOKS,),
    )
    app.state.gateway = gateway
    return app
