"""RFC 9457 problem details: every error leaves as JSON with a stable `code`, never a trace."""

import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

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
        }.get(exc.status_code, "http_error")
        return problem_response(exc.status_code, code, str(exc.detail))

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return problem_response(500, "internal_error", "Something went wrong on our side")

    async def on_dependency(request: Request, exc: Exception) -> JSONResponse:
        problem = classify(exc) if classify is not None else None
        if problem is None:
            return await on_unexpected(request, exc)
        log.warning(
            "dependency unavailable: %s", problem.code, extra={"error_kind": type(exc).__name__}
        )
        return await on_problem(request, problem)

    for cls in dependency_errors:
        app.add_exception_handler(cls, on_dependency)
    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
