"""``POST /api/v1/webhooks/stripe``: Stripe's signed webhooks, deduplicated by event id."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import stripe
from dropwave_runtime.problems import Problem
from dropwave_runtime.service import ServiceRuntime
from fastapi import APIRouter, Request, Response

from ..connect.handlers import on_account_updated
from ..domain import CHARGE_WEBHOOK_EVENT_TYPES, WEBHOOK_EVENT_TYPES, stripe_event_uuid
from ..metrics import WEBHOOKS_UNMATCHED
from ..settings import Settings
from .handlers import (
    PaymentNotYetKnownError,
    changes_nothing,
    on_charge_webhook,
    on_payment_intent_webhook,
)

log = logging.getLogger(__name__)

router = APIRouter(tags=["webhooks"])

STRIPE_WEBHOOKS = "/api/v1/webhooks/"
"""Stripe's events can be large (an object with its metadata and expanded lists): the
runtime's webhook limits apply (WEBHOOK_MAX_BODY_BYTES, 1 MiB; WEBHOOK_RATE_LIMIT)."""
SIGNATURE_TOLERANCE_S = 300
WEBHOOK_CONSUMER = "stripe-webhook"


def verify_stripe_event(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """The webhook's event as a plain dict, once its ``Stripe-Signature`` checks out.

    The SDK's ``Webhook.construct_event`` would also build a ``StripeObject`` tree, only for
    us to turn it back into dicts: a third of a webhook's CPU. The signature check is the
    SDK's own.

    Raises a 400 ``invalid_signature`` problem for a missing, malformed, wrong or stale
    signature, and a 400 ``invalid_payload`` problem for a body that is not a Stripe event.
    """
    if not signature:
        raise Problem(400, "invalid_signature", "Missing Stripe-Signature header")
    try:
        text = payload.decode("utf-8")
        stripe.WebhookSignature.verify_header(text, signature, secret, SIGNATURE_TOLERANCE_S)
        data = json.loads(text)
    except stripe.SignatureVerificationError as exc:
        raise Problem(400, "invalid_signature", "Invalid Stripe-Signature") from exc
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError among them
        raise Problem(400, "invalid_payload", "The body is not a Stripe event") from exc
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("id"), str)
        or not isinstance(data.get("type"), str)
    ):
        raise Problem(400, "invalid_payload", "The body is not a Stripe event")
    return data


_RECEIVED = b'{"received":true}'
_STRIPE_WEBHOOK_DOC: dict[str, Any] = {
    "parameters": [
        {
            "name": "Stripe-Signature",
            "in": "header",
            "required": False,
            "description": "Stripe's signature of the body (refused with 400 without it).",
            "schema": {"type": "string"},
        }
    ],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}},
}


@router.post(
    STRIPE_WEBHOOKS + "stripe",
    response_model=dict[str, bool],
    openapi_extra=_STRIPE_WEBHOOK_DOC,
)
async def stripe_webhook(request: Request) -> Response:
    """Stripe's signed webhooks: PaymentIntent updates move payments forward; charge events
    tell when an authorization's hold ends (or ended).

    Served directly (``Service.direct_routes``: three per order in a drop), so it reads its
    header and the runtime itself."""
    rt: ServiceRuntime[Settings] = request.app.state.runtime
    await _receive(rt, request)
    return Response(_RECEIVED, media_type="application/json")


async def _receive(rt: ServiceRuntime[Settings], request: Request) -> None:
    """Verify, then apply the event once; raises a problem for Stripe to see (and retry)."""
    settings = rt.settings
    payload = await request.body()
    signature = request.headers.get("stripe-signature")
    event = verify_stripe_event(
        payload, signature, settings.stripe_webhook_secret.get_secret_value()
    )
    intent = (event.get("data") or {}).get("object")
    if event["type"] == "account.updated" and isinstance(intent, dict):
        async with rt.db.unit_of_work() as uow:
            if await uow.claim(WEBHOOK_CONSUMER, stripe_event_uuid(event["id"])):
                await on_account_updated(uow, event["id"], int(event.get("created") or 0), intent)
        return
    if event["type"] in CHARGE_WEBHOOK_EVENT_TYPES and isinstance(intent, dict):
        # Idempotent by nature (sets a date or a flag, emits nothing): no inbox row needed,
        # which keeps the one-per-authorization charge.succeeded cheap.
        async with rt.db.unit_of_work() as uow:
            await on_charge_webhook(uow, event["type"], intent)
        return
    if event["type"] not in WEBHOOK_EVENT_TYPES or not isinstance(intent, dict):
        return
    try:
        async with rt.db.unit_of_work() as uow:
            if await changes_nothing(uow, event["type"], intent):
                return
            if await uow.claim(WEBHOOK_CONSUMER, stripe_event_uuid(event["id"])):
                await on_payment_intent_webhook(uow, event["id"], event["type"], intent)
    except PaymentNotYetKnownError as exc:
        # Nothing was recorded (rolled back). Early on, our own commit may still be coming:
        # refuse, and Stripe redelivers. Past the grace period we never will have it:
        # acknowledge (Stripe would retry for days, then disable the endpoint) and log.
        age_s = time.time() - _created(event)
        if age_s < settings.stripe_webhook_unknown_grace_s:
            raise Problem(
                409,
                "payment_not_ready",
                "The payment is not recorded yet; retry later",
                headers={"Retry-After": "60"},
            ) from exc
        WEBHOOKS_UNMATCHED.labels(event["type"]).inc()
        log.warning(
            "stripe webhook for an order without a payment: acknowledged, to reconcile",
            extra={
                "stripe_event_id": event["id"],
                "event_type": event["type"],
                "payment_intent_id": str(exc),
                "order_id": str((intent.get("metadata") or {}).get("order_id"))[:64],
                "event_age_s": round(age_s),
            },
        )
    return


def _created(event: dict[str, Any]) -> float:
    """The event's ``created`` (Unix seconds); 0 (long ago) when missing or malformed."""
    created = event.get("created")
    return float(created) if isinstance(created, int | float) else 0.0
