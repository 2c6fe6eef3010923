"""RFC 9457 problem details: every error leaves as JSON with a stable `code`, never a trace.

An unexpected exception answers the 500 problem from `UnhandledErrors`, a plain ASGI
middleware, and is not re-raised: Starlette's own ServerErrorMiddleware re-raises after
sending its response, and uvicorn then closes the keep-alive connection, which a reverse
proxy (Caddy) may already be reusing for another client's request (a 502 for them).
"""

import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import Conflict, DomainError, Invalid, NotAllowed, NotFound

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://docs.dropwave.dev/problems/"


class Problem(Exception):
    """Raise from any layer above the domain to answer with a problem response.

    ``headers`` go on the response (e.g. ``WWW-Authenticate`` on a 401), not in the body.
    """

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = extra


STATUS_OF_ERROR: Mapping[type[DomainError], int] = {
    NotFound: 404,
    NotAllowed: 403,
    Conflict: 409,
    Invalid: 422,
}


def problem_from(
    error: DomainError, title: str | None = None, *, status: int | None = None, **extra: Any
) -> Problem:
    """The problem a route answers for a domain error: the status of its kind (or the
    route's own ``status``, e.g. 404 to hide another creator's campaign), its code, the
    route's title and the error's message as the detail. Without a title of its own the
    message is the title; a message that only repeats the title is no detail."""
    code = status or next(s for kind, s in STATUS_OF_ERROR.items() if isinstance(error, kind))
    heading = title or error.message
    detail = None if error.message == heading else error.message
    return Problem(code, error.code, heading, detail, **extra)


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": title,
        "status": status,
        "code": code,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_problem_handlers(
    app: FastAPI,
    dependency_errors: tuple[type[Exception], ...] = (),
    classify: Callable[[Exception], Problem | None] | None = None,
) -> None:
    """Problem responses for every error. ``dependency_errors`` raised by a request are
    first given to ``classify``: a problem it returns (e.g. 503 when the database is down)
    is the answer, logged as a warning without a trace; anything else is a 500."""

    async def on_problem(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(
            exc.status, exc.code, exc.title, exc.detail, headers=exc.headers, **exc.extra
        )

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return problem_response(
            422, "validation_error", "The request is invalid", "See `errors`.", errors=errors
        )

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        code = {
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            413: "payload_too_large",
        }.get(exc.status_code, "http_error")
        # The exception's headers stay (405's `Allow`, 401's `WWW-Authenticate`).
        return problem_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    async def on_dependency(request: Request, exc: Exception) -> JSONResponse:
        problem = classify(exc) if classify is not None else None
        if problem is None:  # a bug, not an outage: as UnhandledErrors answers it
            log.error(
                "unhandled error",
                exc_info=exc,
                extra={"method": request.method, "path": request.url.path},
            )
            return internal_error()
        log.warning(
            "dependency unavailable: %s", problem.code, extra={"error_kind": type(exc).__name__}
        )
        return await on_problem(request, problem)

    for cls in dependency_errors:
        app.add_exception_handler(cls, on_dependency)
    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    # Not `add_exception_handler(Exception, ...)`: Starlette would re-raise after answering.
    app.add_middleware(UnhandledErrors)
    _declare_in_openapi(app)


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `code` is stable, `title`/`detail` are for "
    "people. Some problems add members (`errors` on 422 validation_error, `checks`...).",
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}
_PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_FASTAPI_422_SCHEMAS = ("HTTPValidationError", "ValidationError")


def declare_problems(openapi: dict[str, Any]) -> dict[str, Any]:
    """Every operation answers problems: its declared 4xx/5xx (FastAPI's 422 included) and
    the `4XX`/`5XX` ranges become `application/problem+json` with the `Problem` schema."""
    for path_item in openapi.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[str, Any] = operation["responses"]
            for status, response in responses.items():
                if status[:1] in ("4", "5") or status == "default":
                    response["content"] = dict(_PROBLEM_CONTENT)
            responses.setdefault(
                "4XX", {"description": "The client's fault; nothing changed.", "content": {}}
            )["content"] = dict(_PROBLEM_CONTENT)
            responses.setdefault(
                "5XX", {"description": "Our fault, or not ready; retry later.", "content": {}}
            )["content"] = dict(_PROBLEM_CONTENT)
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_422_SCHEMAS:
        schemas.pop(name, None)
    schemas["Problem"] = PROBLEM_SCHEMA
    return openapi


def _declare_in_openapi(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def internal_error() -> JSONResponse:
    return problem_response(500, "internal_error", "Something went wrong on our side")


class UnhandledErrors:
    """Any exception the routes let through: logged with its stack trace, answered with the
    500 problem, and swallowed, so the server keeps the connection open for the next request.

    A response already started (a stream that failed half-way) cannot be answered again:
    the exception is logged and the server ends that one response's connection.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception(
                "unhandled error",
                extra={"method": scope.get("method"), "path": scope.get("path")},
            )
            if not started:
                await internal_error()(scope, receive, send)
