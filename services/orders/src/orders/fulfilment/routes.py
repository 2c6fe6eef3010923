"""Fulfilment over HTTP: the buyer's shipping address (order token), the creator's orders
as JSON pages and as a streamed CSV (creator bearer token, owner only)."""

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from dropwave_runtime.auth import CreatorId
from dropwave_runtime.errors import DomainError
from dropwave_runtime.problems import problem_from
from dropwave_runtime.service import Runtime
from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import StreamingResponse

from ..routes import MAX_TOKEN, check_token
from ..schemas import OrderView
from ..settings import Settings
from . import domain, handlers
from .commands import ChangeShipping, ListOrders
from .schemas import CreatorOrderPage, CreatorOrderView, OrderStatus, ShippingAddress

router = APIRouter(prefix="/api/v1", tags=["fulfilment"])

CampaignRef = Annotated[str, Path(max_length=120, description="the campaign's id (or its slug)")]
CSV_BATCH = 1000
CSV_COLUMNS = (
    "buyer_number",
    "status",
    "email",
    "phone",
    *(f"ship_{name}" for name in domain.ADDRESS_FIELDS),
    "amount_cents",
    "currency",
    "refunded_cents",
    "referral_code",
    "source",
    "placed_at",
    "order_id",
)


@router.put("/orders/{order_id}/shipping-address", response_model=OrderView)
async def change_shipping_address(
    order_id: UUID,
    body: ShippingAddress,
    rt: Runtime[Settings],
    x_order_token: Annotated[str | None, Header(max_length=MAX_TOKEN)] = None,
    token: Annotated[str | None, Query(max_length=MAX_TOKEN)] = None,
) -> OrderView:
    """The buyer replaces the order's shipping address (order token), until the deadline
    (then 409 `deadline_passed`) and while the order stands (409 `order_not_editable`);
    checked like a new order's (422 `shipping_address_invalid`, `country_not_shipped`,
    `shipping_not_offered` on a digital drop)."""
    check_token(rt, order_id, x_order_token or token)
    try:
        async with rt.db.unit_of_work() as uow:
            order = await handlers.change_shipping(ChangeShipping(order_id, body.model_dump()), uow)
    except DomainError as error:
        raise problem_from(error, "The shipping address cannot be changed") from error
    return OrderView.model_validate(order, from_attributes=True)


@router.get("/campaigns/{slug}/orders", response_model=CreatorOrderPage)
async def list_campaign_orders(
    slug: CampaignRef,
    creator: CreatorId,
    rt: Runtime[Settings],
    status: OrderStatus | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> CreatorOrderPage:
    """The campaign's orders for its creator (bearer token; another creator's campaign:
    404), by buyer number, of one `status` if asked. Paginated: pass `next_cursor` as
    `cursor` (null: the end). `slug` is the campaign's id or its slug."""
    try:
        query = ListOrders(slug, creator, status, domain.decode_cursor(cursor or ""), limit)
        async with rt.db.sessions() as session:
            campaign = await handlers.owned_campaign(session, slug, creator)
            orders = await handlers.order_page(session, campaign.id, query)
    except DomainError as error:
        raise problem_from(error) from error
    items = [CreatorOrderView.model_validate(handlers.creator_view(o)) for o in orders]
    more = len(orders) == limit
    return CreatorOrderPage(
        items=items, next_cursor=domain.encode_cursor(orders[-1].buyer_number) if more else None
    )


@router.get(
    "/campaigns/{slug}/orders.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "One line per order"}},
)
async def export_campaign_orders(
    slug: CampaignRef,
    creator: CreatorId,
    rt: Runtime[Settings],
    status: OrderStatus | None = None,
) -> StreamingResponse:
    """The same orders as a CSV for fulfilment tools (header line first; the address in
    `ship_*` columns), streamed in batches of 1,000 by buyer number: constant memory for any
    number of orders. Owner only, like the list."""
    try:
        async with rt.db.sessions() as session:
            campaign = await handlers.owned_campaign(session, slug, creator)
    except DomainError as error:
        raise problem_from(error) from error

    async def lines() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        query = ListOrders(slug, creator, status, 0, CSV_BATCH)
        while True:
            async with rt.db.sessions() as session:
                orders = await handlers.order_page(session, campaign.id, query)
            for order in orders:
                writer.writerow(_csv_row(handlers.creator_view(order)))
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if len(orders) < CSV_BATCH:
                return
            query = ListOrders(slug, creator, status, orders[-1].buyer_number, CSV_BATCH)

    filename = f"orders-{campaign.slug}.csv"
    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _iso(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else ""


def _csv_row(view: dict[str, Any]) -> list[str]:
    address = view["shipping_address"] or {}
    return [
        str(view["buyer_number"]),
        str(view["status"]),
        domain.csv_cell(view["email"]),
        str(view["phone"] or ""),  # E.164 as validated: + and digits
        *(domain.csv_cell(address.get(name)) for name in domain.ADDRESS_FIELDS),
        str(view["amount_cents"]),
        str(view["currency"]),
        str(view["refunded_cents"]),
        domain.csv_cell(view["referral_code"]),
        domain.csv_cell(view["source"]),
        _iso(view["placed_at"]),
        str(view["id"]),
    ]
