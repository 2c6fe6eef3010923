from dropwave_contracts.events import (
    CreatorPayoutsUpdated,
    OrderCancelled,
    OrderConfirmed,
    OrdersTallied,
)
from dropwave_runtime.service import configure
from fastapi import FastAPI

from . import activity_handlers, api, api_activity, handlers
from .settings import Settings


def create_app(settings: Settings) -> FastAPI:
    rt = configure("campaigns", settings)
    rt.on(OrderConfirmed, handlers.on_order_confirmed)
    rt.on(OrderCancelled, handlers.on_order_cancelled)
    rt.on(OrdersTallied, handlers.on_orders_tallied)
    rt.on(CreatorPayoutsUpdated, handlers.on_creator_payouts_updated)
    activity = activity_handlers.install(rt)
    app = rt.create_app([api.router, api_activity.router], title="DropWave campaigns")
    app.state.activity = activity
    return app
