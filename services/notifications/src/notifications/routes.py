"""HTTP entrypoints: the unsubscribe link and Twilio's webhooks (inbound SMS, status).

Unsubscribe: ``GET`` only shows a confirmation page (mail scanners follow links); ``POST``
(the page's button, or a mail client's RFC 8058 one-click) records the opt-out, and for a
browser answers a page that offers to undo it (``POST .../unsubscribe/undo``, which removes
the opt-out). The pages live here, with the opt-outs they change (docs/adr/0011-storefront.md).
The token names a delivery, never an address, and is HMAC-signed.

Twilio webhooks are accepted only with a valid ``X-Twilio-Signature`` (computed by Twilio
over the public URL it called and the form parameters; checked with the SDK's
``RequestValidator``): inbound STOP/START and delivery status callbacks.
"""

import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal
from urllib.parse import parse_qsl

from dropwave_runtime.problems import Problem
from dropwave_runtime.service import Runtime, ServiceRuntime
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from . import optouts
from .domain import verify_unsubscribe_token
from .settings import Settings
from .templates import render_page

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


UNSUBSCRIBE = "/api/v1/notifications/unsubscribe"
PageState = Literal["ask", "unsubscribed", "subscribed", "invalid"]
HEADINGS: dict[PageState, str] = {
    "ask": "Unsubscribe from DropWave emails?",
    "unsubscribed": "You're unsubscribed",
    "subscribed": "You're subscribed again",
    "invalid": "This link isn't valid",
}
STATUS_OF: dict[PageState, int] = {"invalid": 400}


def _wants_page(request: Request) -> bool:
    """A browser (the link opened, the page's buttons) gets pages; a mail client's RFC 8058
    one-click POST and API clients get JSON."""
    return "text/html" in request.headers.get("accept", "")


def _page(state: PageState, token: str = "", status: int | None = None) -> HTMLResponse:
    """The unsubscribe page in one of its states: its own CSP (a style by nonce, no script,
    forms only to us), never cached, no ``Referer`` (its URL carries the link's token)."""
    nonce = secrets.token_urlsafe(16)
    html = render_page(
        "unsubscribe",
        {
            "nonce": nonce,
            "state": state,
            "heading": HEADINGS[state],
            "unsubscribe_action": f"{UNSUBSCRIBE}?token={token}",
            "undo_action": f"{UNSUBSCRIBE}/undo?token={token}",
        },
    )
    return HTMLResponse(
        html,
        status or STATUS_OF.get(state, 200),
        headers={
            "Content-Security-Policy": f"default-src 'none'; style-src 'nonce-{nonce}'; "
            "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/unsubscribe", response_class=HTMLResponse)
async def unsubscribe_page(
    rt: Runtime[Settings], request: Request, token: Annotated[Token, Query()]
) -> Response:
    """A confirmation page; nothing changes until its button is pressed (mail scanners
    follow links)."""
    try:
        _delivery(rt, token)
    except Problem:
        if _wants_page(request):
            return _page("invalid")
        raise
    return _page("ask", token)


async def _change(
    rt: ServiceRuntime[Settings],
    request: Request,
    token: str,
    change: Callable[[AsyncSession, uuid.UUID], Awaitable[bool]],
    done: PageState,
    answer: dict[str, str],
) -> Response:
    """Unsubscribe or undo it for the delivery the token names; a page for a browser, JSON
    for the others."""
    page = _wants_page(request)
    try:
        delivery = _delivery(rt, token)
        async with rt.db.unit_of_work() as uow:
            if not await change(uow.session, delivery):
                raise Problem(404, "not_found", "Unknown unsubscribe link")
    except Problem as problem:
        if page:
            return _page("invalid", status=problem.status)
        raise
    if page:
        return _page(done, token)
    return JSONResponse(answer)


@router.post("/unsubscribe", response_model=dict[str, str])
async def unsubscribe(
    rt: Runtime[Settings], request: Request, token: Annotated[Token, Query()]
) -> Response:
    """Record the opt-out of the address the delivery went to (idempotent): the page's button
    (then the page offers to undo it) or a mail client's RFC 8058 one-click."""
    return await _change(
        rt, request, token, optouts.unsubscribe_delivery, "unsubscribed", {"status": "unsubscribed"}
    )


@router.post("/unsubscribe/undo", response_model=dict[str, str])
async def undo_unsubscribe(
    rt: Runtime[Settings], request: Request, token: Annotated[Token, Query()]
) -> Response:
    """Undo an unsubscribe (the page's "keep emailing me"): the address gets email again
    (idempotent)."""
    return await _change(
        rt, request, token, optouts.resubscribe_delivery, "subscribed", {"status": "subscribed"}
    )


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
