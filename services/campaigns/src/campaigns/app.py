from dropwave_contracts.events import (
    CreatorPayoutsUpdated,
    OrderCancelled,
    OrderConfirmed,
    OrderPlaced,
    PaymentFailed,
)
from dropwave_runtime.service import configure
from fastapi import FastAPI

from . import activity_handlers, api, api_activity, handlers, scheduler
from .settings import Settings


def create_app(settings: Settings) -> FastAPI:
    rt = configure("campaigns", settings)
    rt.on(OrderPlaced, handlers.on_order_placed)
    rt.on(OrderConfirmed, handlers.on_order_confirmed)
    rt.on(PaymentFailed, handlers.on_payment_failed)
    rt.on(OrderCancelled, handlers.on_order_cancelled)
    rt.on(CreatorPayoutsUpdated, handlers.on_creator_payouts_updated)
    rt.background(scheduler.deadline_scheduler)
    activity = activity_handlers.install(rt)
    app = rt.create_app([api.router, api_activity.router], title="DropWave campaigns")
    app.state.activity = activity
    return app
