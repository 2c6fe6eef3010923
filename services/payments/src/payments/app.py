"""The payments service: wiring only (nothing connects at import time)."""

from __future__ import annotations

from dropwave_contracts.events import OrderCancelled, OrderPlaced
from dropwave_runtime.db import UnitOfWork
from dropwave_runtime.service import configure
from fastapi import FastAPI

from . import api
from .handlers import on_order_cancelled, on_order_placed
from .settings import Settings
from .stripe_gateway import StripeGateway


def create_app(settings: Settings) -> FastAPI:
    rt = configure("payments", settings)
    gateway = StripeGateway.from_settings(settings)

    async def handle_order_placed(event: OrderPlaced, uow: UnitOfWork) -> None:
        await on_order_placed(event, uow, gateway)

    async def handle_order_cancelled(event: OrderCancelled, uow: UnitOfWork) -> None:
        await on_order_cancelled(event, uow, gateway)

    rt.on(OrderPlaced, handle_order_placed)
    rt.on(OrderCancelled, handle_order_cancelled)
    return rt.create_app([api.router], title="DropWave payments")
