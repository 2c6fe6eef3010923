"""``Idempotency-Key`` honoured on POSTs like Stripe does (localstripe ignores it).

Per API key (and ``Stripe-Account``): the first request's answer is stored; the same key
with the same method, path and parameters gets that answer replayed (with
``Idempotent-Replayed: true``) without executing again; the same key with anything else is a
400 ``idempotency_error``; while the first request still runs, a 409. Answers that did not
execute (401, 409, 429, 5xx) are not stored, as on Stripe. Keys expire after 24 hours.

Nothing here touches localstripe: :mod:`.patches` installs the middleware.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from aiohttp import web

__all__ = ["IDEMPOTENCY_TTL_S", "middleware"]

IDEMPOTENCY_TTL_S = 24 * 3600
"""Stripe prunes idempotency keys after 24 hours."""


def middleware() -> Any:
    """A fresh aiohttp middleware with its own store of keys."""
    stored: dict[tuple[str, str], tuple[float, str, int, bytes, str]] = {}
    in_flight: set[tuple[str, str]] = set()

    def error(status: int, message: str) -> web.Response:
        body = {"error": {"type": "idempotency_error", "message": message}}
        return web.json_response(body, status=status)

    @web.middleware
    async def idempotency(request: web.Request, handler: Any) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key or request.path.startswith("/_config/"):
            response: web.StreamResponse = await handler(request)
            return response
        headers = request.headers
        scope = f"{headers.get('Authorization', '')}|{headers.get('Stripe-Account', '')}"
        slot = (scope, key)
        body = await request.read()
        fingerprint = hashlib.sha256(
            f"{request.method} {request.path_qs}\n".encode() + body
        ).hexdigest()
        now = time.monotonic()
        while stored and next(iter(stored.values()))[0] < now - IDEMPOTENCY_TTL_S:
            del stored[next(iter(stored))]
        if slot in stored:
            _, first, status, payload, content_type = stored[slot]
            if first != fingerprint:
                return error(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with.",
                )
            replay = web.Response(status=status, body=payload, content_type=content_type)
            replay.headers["Idempotent-Replayed"] = "true"
            replay.headers["Idempotency-Key"] = key
            return replay
        if slot in in_flight:
            return error(409, "There is currently another in-progress request using this key.")
        in_flight.add(slot)
        try:
            response = await handler(request)
        finally:
            in_flight.discard(slot)
        status = response.status
        if (
            isinstance(response, web.Response)
            and isinstance(response.body, bytes)
            and status < 500
            and status not in (401, 409, 429)
        ):
            content_type = response.content_type or "application/json"
            stored[slot] = (now, fingerprint, status, response.body, content_type)
        response.headers["Idempotency-Key"] = key
        return response

    return idempotency
