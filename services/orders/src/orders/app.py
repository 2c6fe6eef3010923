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
from dropwave_runtime.service import configure
from fastapi import FastAPI

from . import api, closing, handlers
from .intake import OrderIntake
from .settings import Settings


def create_app(settings: Settings) -> FastAPI:
    rt = configure("orders", settings)
    rt.on(CampaignCreated, handlers.on_campaign_created)
    rt.on(CampaignPublished, handlers.on_campaign_published)
    rt.on(CampaignUpdated, handlers.on_campaign_updated)
    rt.on(CampaignSucceeded, handlers.on_campaign_succeeded)
    rt.on(CampaignFailed, handlers.on_campaign_failed)
    rt.on(CampaignCancelled, handlers.on_campaign_cancelled)
    rt.on(PaymentAuthorized, handlers.on_payment_authorized)
    rt.on(PaymentActionRequired, handlers.on_payment_action_required)
    rt.on(PaymentFailed, handlers.on_payment_failed)
    rt.on(PaymentCaptured, handlers.on_payment_captured)
    rt.on(PaymentCaptureFailed, handlers.on_payment_capture_failed)
    rt.on(PaymentReleased, handlers.on_payment_released)
    rt.background(closing.closing_job)
    rt.on(PaymentRefunded, handlers.on_payment_refunded)
    app = rt.create_app([api.router], title="DropWave orders")
    app.state.intake = OrderIntake(rt.db)
    return app
