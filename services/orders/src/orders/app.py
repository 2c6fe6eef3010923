import functools

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
from dropwave_runtime.service import ServiceRuntime, configure
from fastapi import FastAPI

from . import abuse, api, closing, handlers
from .intake import OrderIntake
from .settings import Settings


def create_app(settings: Settings) -> FastAPI:
    rt = configure("orders", settings)
    policy = abuse.DeclinePolicy(
        settings.decline_lockout_threshold, settings.decline_window_s, settings.decline_lockout_s
    )
    lockouts = abuse.Lockouts(policy, settings.exempt_networks)
    rt.on(CampaignCreated, handlers.on_campaign_created)
    rt.on(CampaignPublished, handlers.on_campaign_published)
    rt.on(CampaignUpdated, handlers.on_campaign_updated)
    rt.on(CampaignSucceeded, handlers.on_campaign_succeeded)
    rt.on(CampaignFailed, handlers.on_campaign_failed)
    rt.on(CampaignCancelled, handlers.on_campaign_cancelled)
    rt.on(PaymentAuthorized, handlers.on_payment_authorized)
    rt.on(PaymentActionRequired, handlers.on_payment_action_required)
    rt.on(PaymentFailed, functools.partial(handlers.on_payment_failed, policy=policy))
    rt.on(PaymentCaptured, handlers.on_payment_captured)
    rt.on(PaymentCaptureFailed, handlers.on_payment_capture_failed)
    rt.on(PaymentReleased, handlers.on_payment_released)
    rt.background(closing.closing_job)

    async def lockout_reload(runtime: ServiceRuntime[Settings]) -> None:
        await lockouts.run(runtime.db, settings.rate_limit_sync_s)

    rt.background(lockout_reload)
    rt.on(PaymentRefunded, handlers.on_payment_refunded)
    app = rt.create_app([api.router], title="DropWave orders")
    app.state.intake = OrderIntake(rt.db)
    app.state.lockouts = lockouts
    return app
