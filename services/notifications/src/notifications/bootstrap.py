"""Everything the notifications service runs, in one list: routes, event handlers and the
delivery workers. Nothing connects here: workers start in the runtime's lifespan and build
their adapters there, in the event loop."""

import asyncio
from pathlib import Path

from dropwave_contracts.events import (
    CreatorSettingsChanged,
    OrderConfirmed,
    OrderPlaced,
    PaymentCaptured,
)
from dropwave_runtime.bootstrap import Periodic, Service, Worker
from dropwave_runtime.consumer import Batched
from dropwave_runtime.db import Database
from dropwave_runtime.rate_limit import PgRateLimiter
from dropwave_runtime.service import configure
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from . import handlers, projections, retention
from .mailer import Mailer, ResendMailer, SmtpMailer
from .routes import TWILIO_WEBHOOKS, router
from .settings import Settings
from .sms import SmsSender, sms_sender
from .worker import DeliveryWorker, WorkerConfig


def mailer_for(settings: Settings) -> Mailer:
    return ResendMailer(settings) if settings.email_provider == "resend" else SmtpMailer(settings)


def worker_config(settings: Settings) -> WorkerConfig:
    return WorkerConfig(
        public_base_url=settings.public_base_url,
        link_secret=settings.notifications_link_secret.get_secret_value().encode(),
        pay_later_url_template=settings.pay_later_url_template,
        concurrency=settings.delivery_concurrency,
        batch_size=settings.delivery_batch_size,
        lease_s=settings.delivery_lease_s,
        poll_interval_s=settings.delivery_poll_interval_s,
        max_attempts=settings.delivery_max_attempts,
        backoff_base_s=settings.delivery_backoff_base_s,
        backoff_max_s=settings.delivery_backoff_max_s,
    )


def provider_limiters(
    settings: Settings, engine: AsyncEngine
) -> tuple[PgRateLimiter, PgRateLimiter]:
    """The email and SMS limiters: one row per provider in this service's database, so all
    instances share the provider's budget (ADR 0006; the limiter is ADR 0005's)."""
    email = PgRateLimiter(
        engine,
        f"email:{settings.email_provider}",
        settings.email_rate_per_s,
        settings.email_rate_burst,
    )
    sms = PgRateLimiter(
        engine, f"sms:{settings.sms_provider}", settings.sms_rate_per_s, settings.sms_rate_burst
    )
    return email, sms


async def deliveries(
    db: Database, settings: Settings, mailer: Mailer | None, sms: SmsSender | None
) -> None:
    """The delivery workers of this process (``DELIVERY_WORKERS``), sharing the providers'
    budgets with every instance; ``mailer``/``sms`` are tests' stand-ins, else built from
    the settings."""
    email = mailer or mailer_for(settings)
    text = sms if sms is not None else sms_sender(settings)
    email_limiter, sms_limiter = provider_limiters(settings, db.engine)
    workers = [
        DeliveryWorker(
            db,
            worker_config(settings),
            email,
            text,
            email_limiter=email_limiter,
            sms_limiter=sms_limiter,
        )
        for _ in range(settings.delivery_workers)
    ]
    try:
        await asyncio.gather(*(w.run() for w in workers))
    finally:
        await email.close()
        if text is not None:
            await text.close()


SERVICE = Service(
    name="notifications",
    title="DropWave notifications",
    settings=Settings,
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    webhook_prefixes=(TWILIO_WEBHOOKS,),
    # What each event sends is the table in messages.py; one handler runs it all. Creators'
    # settings (keyed by creator, not campaign) only keep their read model.
    events={
        **dict.fromkeys(handlers.EVENTS, handlers.handle),
        OrderPlaced: Batched(projections.on_orders_placed),
        # A drop's per-order floods: in runs, each event still its own messages.
        OrderConfirmed: Batched(handlers.handle, each=True),
        PaymentCaptured: Batched(handlers.handle, each=True),
        CreatorSettingsChanged: projections.on_creator_settings_changed,
    },
    jobs=[
        Worker("deliveries", deliveries),
        Periodic(
            "erasing personal data",
            retention.erase_expired,
            lambda settings: settings.pii_erase_interval_s,
        ),
    ],
)


def bootstrap(
    settings: Settings, mailer: Mailer | None = None, sms: SmsSender | None = None
) -> FastAPI:
    return configure(SERVICE.name, settings).wire(SERVICE, mailer=mailer, sms=sms)
