"""HTTP entrypoints: the unsubscribe link and Twilio's webhooks (inbound SMS, status).

Unsubscribe: ``GET`` only shows a confirmation page (mail scanners follow links); ``POST``
(the page's button, or a mail client's RFC 8058 one-click) records the opt-out. The token
names a delivery, never an address, and is HMAC-signed.

Twilio webhooks are accepted only with a valid ``X-Twilio-Signature`` (computed by Twilio
over the public URL it called and the form parameters; checked with the SDK's
``RequestValidator``): inbound STOP/START and delivery status callbacks.
"""

import html
import uuid
from typing import Annotated
from urllib.parse import parse_qsl

from dropwave_runtime.problems import Problem
from dropwave_runtime.service import Runtime, ServiceRuntime
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import StringConstraints

from . import optouts
from .domain import verify_unsubscribe_token
from .settings import Settings

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])

Token = Annotated[
    str, StringConstraints(min_length=10, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
]
TWILIO_WEBHOOKS = "/api/v1/notifications/twilio/"
"""Twilio's callbacks: the runtime's webhook limits apply (WEBHOOK_MAX_BODY_BYTES, refused
before the body is read; WEBHOOK_RATE_LIMIT)."""
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _delivery(rt: ServiceRuntime[Settings], token: str) -> uuid.UUID:
    secret = rt.settings.notifications_link_secret.get_secret_value().encode()
    delivery = verify_unsubscribe_token(secret, token)
    if delivery is None:
        raise Problem(400, "invalid_token", "Invalid unsubscribe link")
    return delivery


@router.get("/unsubscribe", response_class=HTMLResponse)
async def unsubscribe_page(rt: Runtime[Settings], token: Annotated[Token, Query()]) -> HTMLResponse:
    """A confirmation page; nothing changes until its button is pressed."""
    _delivery(rt, token)
    safe = html.escape(token, quote=True)
    return HTMLResponse(
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>Unsubscribe</title></head><body>"
        "<p>Stop all emails from DropWave to this address?</p>"
        f"<form method='post' action='?token={safe}'>"
        "<button type='submit'>Unsubscribe</button></form></body></html>"
    )


@router.post("/unsubscribe")
async def unsubscribe(rt: Runtime[Settings], token: Annotated[Token, Query()]) -> dict[str, str]:
    """Record the opt-out of the address the delivery went to (idempotent)."""
    delivery = _delivery(rt, token)
    async with rt.db.unit_of_work() as uow:
        if not await optouts.unsubscribe_delivery(uow.session, delivery):
            raise Problem(404, "not_found", "Unknown unsubscribe link")
    return {"status": "unsubscribed"}


async def _twilio_form(rt: ServiceRuntime[Settings], request: Request, path: str) -> dict[str, str]:
    """The webhook's form parameters, once its signature is checked."""
    settings = rt.settings
    if settings.sms_provider != "twilio" or settings.twilio_auth_token is None:
        raise Problem(404, "not_found", "Twilio is not configured")
    body = await request.body()
    try:
        params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        raise Problem(400, "bad_request", "Malformed form body") from None
    from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    url = settings.public_base_url.rstrip("/") + path
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not validator.validate(url, params, signature):
        raise Problem(403, "invalid_signature", "Invalid Twilio signature")
    return params


@router.post(
    "/twilio/inbound",
    response_class=Response,
    responses={200: {"description": "Empty TwiML", "content": {"application/xml": {}}}},
)
async def twilio_inbound(rt: Runtime[Settings], request: Request) -> Response:
    """Inbound SMS: STOP (and its synonyms) opts the number out, START opts it back in."""
    params = await _twilio_form(rt, request, "/api/v1/notifications/twilio/inbound")
    sender = params.get("From", "")
    if sender and len(sender) <= 32:
        async with rt.db.unit_of_work() as uow:
            await optouts.sms_keyword_received(uow.session, sender, params.get("Body", "")[:1600])
    return Response(TWIML_EMPTY, media_type="application/xml")


@router.post("/twilio/status", status_code=204)
async def twilio_status(rt: Runtime[Settings], request: Request) -> Response:
    """Delivery status callback: record the carrier's status on the delivery."""
    params = await _twilio_form(rt, request, "/api/v1/notifications/twilio/status")
    sid = params.get("MessageSid", "")
    status = params.get("MessageStatus", "")
    if not (0 < len(sid) <= 64 and 0 < len(status) <= 32):
        raise Problem(422, "validation_error", "MessageSid and MessageStatus are required")
    async with rt.db.unit_of_work() as uow:
        await optouts.record_provider_status(uow.session, sid, status)
    return Response(status_code=204)
