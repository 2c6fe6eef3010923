"""Request body size limits, enforced before the body is read.

A pure ASGI middleware: a declared ``Content-Length`` above the limit is answered 413 at
once (nothing is read, however slowly the client would send it); a body without one
(chunked) is counted as it streams in, and the read that crosses the limit fails with the
same 413 problem, so nothing downstream ever holds more than the limit in memory.

Limits are per path prefix (webhooks get their own, larger one: a Stripe event can be big),
else the service's ``MAX_BODY_BYTES``.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import problem_response

__all__ = ["BodyLimit", "PayloadTooLarge"]


class PayloadTooLarge(HTTPException):
    """Raised by the counting ``receive``: an HTTPException, so FastAPI's body reading lets it
    through (it turns any other error there into a 400) and the problem handlers answer 413
    ``payload_too_large``."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"The request body may be at most {limit} bytes.",
            headers={"Connection": "close"},  # the unread rest is not a next request
        )
        self.limit = limit


class BodyLimit:
    def __init__(
        self, app: ASGIApp, max_bytes: int, per_prefix: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Longest prefix first: the most specific wins.
        self.per_prefix = sorted((per_prefix or {}).items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.per_prefix:
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared: int | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
                break
        if declared is not None and declared > limit:
            await _refuse(scope, receive, send, limit)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(limit)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except PayloadTooLarge:
            # Normally answered by the problem handlers; this is for a reader outside them.
            if started:
                raise
            await _refuse(scope, receive, send, limit)


async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    exc = PayloadTooLarge(limit)
    response = problem_response(
        413,
        "payload_too_large",
        "Request body too large",
        exc.detail,
        headers=exc.headers,
        max_bytes=limit,
    )
    await response(scope, receive, send)
