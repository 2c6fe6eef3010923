"""The notifications service: event handlers wired to the runtime. Nothing connects here."""

from dropwave_contracts.events import OrderConfirmed
from dropwave_runtime.db import UnitOfWork
from dropwave_runtime.service import configure
from fastapi import FastAPI

from .handlers import on_order_confirmed
from .mailer import Mailer, SmtpMailer
from .settings import Settings


def create_app(settings: Settings, mailer: Mailer | None = None) -> FastAPI:
    rt = configure("notifications", settings)
    smtp = mailer or SmtpMailer(settings)

    async def order_confirmed(event: OrderConfirmed, uow: UnitOfWork) -> None:
        await on_order_confirmed(event, uow, smtp)

    rt.on(OrderConfirmed, order_confirmed)
    return rt.create_app([], title="DropWave notifications")
