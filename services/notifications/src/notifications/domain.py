"""Pure notification logic: formatting, delivery ids, link tokens, SMS keywords. No I/O."""

import base64
import hashlib
import hmac
import string
import uuid
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import quote

# Re-exported for the message contexts (the helpers live in the runtime, shared with pages).
from dropwave_runtime.display import format_deadline as format_deadline
from dropwave_runtime.display import format_money as format_money


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def delivery_key(source_event_id: uuid.UUID | str, kind: str, channel: str, ref: str) -> str:
    return f"{source_event_id}/{kind}/{channel}/{ref}"


def delivery_id(
    source_event_id: uuid.UUID, recipient_kind: str, channel: str, recipient_ref: str = ""
) -> uuid.UUID:
    """Deterministic id of the one message for (event, recipient, channel).

    ``recipient_ref`` tells recipients of one kind apart (the order id of a buyer, the
    creator id of a creator). The first 16 bytes of the SHA-256 of :func:`delivery_key`:
    PostgreSQL computes the same value in a fan-out ``INSERT ... SELECT`` (see handlers).
    """
    key = delivery_key(source_event_id, recipient_kind, channel, recipient_ref)
    return uuid.UUID(bytes=hashlib.sha256(key.encode()).digest()[:16])


def percent_of(count: int, minimum: int) -> int:
    return 0 if minimum <= 0 else count * 100 // minimum


# --- unsubscribe links --------------------------------------------------------------------

_TOKEN_PURPOSE: Final = b"unsubscribe/v1:"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsubscribe_token(secret: bytes, delivery: uuid.UUID) -> str:
    """``<delivery id>.<HMAC>``: names a delivery (never an address), unforgeable."""
    mac = hmac.new(secret, _TOKEN_PURPOSE + delivery.bytes, hashlib.sha256).digest()[:16]
    return f"{_b64(delivery.bytes)}.{_b64(mac)}"


def verify_unsubscribe_token(secret: bytes, token: str) -> uuid.UUID | None:
    """The delivery a token names, or None when it is malformed or its MAC is wrong."""
    if len(token) > 64 or token.count(".") != 1:
        return None
    raw_id, raw_mac = token.split(".")
    try:
        delivery = uuid.UUID(bytes=base64.urlsafe_b64decode(raw_id + "=" * (-len(raw_id) % 4)))
    except (ValueError, TypeError):
        return None
    expected = unsubscribe_token(secret, delivery).split(".")[1]
    return delivery if hmac.compare_digest(expected, raw_mac) else None


def address_digest(channel: str, address: str) -> str:
    """How an opt-out remembers an address: SHA-256 of the normalised address."""
    normal = address.strip().lower() if channel == "email" else address.strip()
    return hashlib.sha256(f"{channel}:{normal}".encode()).hexdigest()


# --- inbound SMS keywords (the carriers' standard set) ------------------------------------

STOP_WORDS: Final = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT"})
START_WORDS: Final = frozenset({"START", "UNSTOP", "YES", "OPTIN"})


def sms_keyword(body: str) -> Literal["stop", "start"] | None:
    word = body.strip().upper()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    return None


PAY_LATER_FIELDS: Final = frozenset({"order_id", "token"})


def check_pay_later_template(template: str) -> str:
    """``PAY_LATER_URL_TEMPLATE`` names the order (``{order_id}``) and may place the link's
    token (``{token}``); nothing else."""
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    if "order_id" not in fields:
        raise ValueError("the pay-later URL template must contain {order_id}")
    if unknown := fields - PAY_LATER_FIELDS:
        raise ValueError(f"unknown fields in the pay-later URL template: {sorted(unknown)}")
    return template


def pay_later_url(template: str, order_id: uuid.UUID | str, token: str | None) -> str:
    """The buyer's pay-later link: ``template`` with the order id and the link's signed token
    (from payments). A template without ``{token}`` gets it in the URL's fragment (``#t=``,
    what the storefront's pay page reads: a fragment is never sent to a server, so never
    logged); no token (an older event): none is added (``{token}`` is left empty)."""
    quoted = quote(token or "", safe="")
    if "{token}" in template:
        return template.format(order_id=order_id, token=quoted)
    url = template.format(order_id=order_id)
    if not token:
        return url
    return f"{url}#t={quoted}"


def order_page_url(base_url: str, order_id: uuid.UUID | str, token: str | None) -> str | None:
    """The buyer's order page (the storefront's ``/orders/{id}``) with the order token in the
    fragment (``#t=``): browsers never send a fragment, so the token is in no server's or
    CDN's log and in no ``Referer``; the page's script reads it and takes it out of the
    address bar. None without a token (an older event: no link)."""
    if not token:
        return None
    return f"{base_url.rstrip('/')}/orders/{order_id}#t={quote(token, safe='')}"
