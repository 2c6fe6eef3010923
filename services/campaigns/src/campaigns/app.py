from dropwave_contracts.events import OrderCancelled, OrderConfirmed
from dropwave_runtime.service import configure
from fastapi import FastAPI

from . import api, handlers, scheduler
from .settings import Settings


def create_app(settings: Settings) -> FastAPI:
    rt = configure("campaigns", settings)
    rt.on(OrderConfirmed, handlers.on_order_confirmed)
    rt.on(OrderCancelled, handlers.on_order_cancelled)
    rt.background(scheduler.deadline_scheduler)
    return rt.create_app([api.router], title="DropWave campaigns")
