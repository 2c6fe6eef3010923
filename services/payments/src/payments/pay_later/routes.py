"""``GET /api/v1/payments/{order_id}/pay-later``: the buyer's pay-later link."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from dropwave_runtime.problems import Problem
from dropwave_runtime.service import Runtime
from fastapi import APIRouter, Header, Query, Response

from ..settings import Settings
from .domain import verify_pay_token
from .handlers import PayLaterInfo, pay_later_view

router = APIRouter(tags=["pay-later"])


def _no_link() -> Problem:
    return Problem(
        404, "pay_link_not_found", "No such pay-later link", "The link is invalid or expired."
    )


@router.get(
    "/api/v1/payments/{order_id}/pay-later",
    response_model=PayLaterInfo,
    responses={404: {"description": "pay_link_not_found: unknown order, bad or expired token"}},
)
async def get_pay_later(
    order_id: str,
    rt: Runtime[Settings],
    response: Response,
    token: Annotated[str | None, Query(description="the link's token, from the email")] = None,
    x_pay_token: Annotated[
        str | None,
        Header(
            max_length=64,
            description="the link's token, as a header (the storefront's pay page: a query "
            "string is logged, a header is not); wins over ?token=",
        ),
    ] = None,
) -> PayLaterInfo:
    """The pay-later link behind the buyer's email (its token as ``X-Pay-Token`` or
    ``?token=``): what to pay and the ``client_secret`` to pay with. A missing, malformed,
    forged, another order's or expired token, and an unknown order, are the same 404 problem.
    Reads only."""
    token = x_pay_token or token
    settings = rt.settings
    try:
        order = uuid.UUID(order_id)
    except ValueError:
        raise _no_link() from None
    secret = settings.pay_link_secret.get_secret_value()
    if verify_pay_token(secret, order, token, datetime.now(UTC)) is None:
        raise _no_link()
    info = await pay_later_view(rt.db, order)
    if info is None:
        raise _no_link()
    response.headers["Cache-Control"] = "no-store"
    return info
