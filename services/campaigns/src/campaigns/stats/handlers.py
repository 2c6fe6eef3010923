"""The stats projection: one row per order from orders' events, and the creator's read.

Each reaction runs in the unit of work of the event that causes it (the runtime's inbox
records the event id there), and writes only the order's own row, keyed by ``order_id``:
``INSERT ... ON CONFLICT`` that sets what this event knows. Events of one order arrive in
order, but the row does not depend on it (a ``OrderConfirmed`` seen first makes the row,
the ``OrderPlaced`` fills in where the buyer came from), and different orders never touch
the same row, so concurrent handling counts exactly.

``OrderPlaced`` comes from the bootstrap; ``order_confirmed`` and ``order_cancelled`` from
the core's handlers of those events (one handler per event type, as with the activity feed).
"""

from collections.abc import Sequence
from datetime import UTC
from typing import Any
from uuid import UUID

from dropwave_contracts.events import OrderCancelled, OrderConfirmed, OrderPlaced
from dropwave_runtime.db import UnitOfWork
from dropwave_runtime.errors import NotFound
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from .. import domain as campaign_domain
from ..models import Campaign
from .commands import GetStats
from .domain import Cell, Hour, Stats, source_label, summarise
from .models import orders_table


async def _upsert(uow: UnitOfWork, order_id: UUID, campaign_id: UUID, **values: Any) -> None:
    stmt = pg_insert(orders_table).values(order_id=order_id, campaign_id=campaign_id, **values)
    await uow.session.execute(
        stmt.on_conflict_do_update(index_elements=[orders_table.c.order_id], set_=values)
    )


async def on_orders_placed(events: Sequence[OrderPlaced], uow: UnitOfWork) -> None:
    """Where each order came from: a run of them (the consumer's ``Batched``: a drop's
    orders polled together) in one statement. A run never holds one order twice."""
    rows = [
        {
            "order_id": e.order_id,
            "campaign_id": e.campaign_id,
            "referral_code": e.referral_code or "",
            "source": source_label(e.source),
            "placed_at": e.occurred_at,
        }
        for e in events
    ]
    stmt = pg_insert(orders_table)
    placed = ("referral_code", "source", "placed_at")
    await uow.session.execute(
        stmt.on_conflict_do_update(
            index_elements=[orders_table.c.order_id], set_={c: stmt.excluded[c] for c in placed}
        ),
        rows,
    )


async def order_confirmed(event: OrderConfirmed, uow: UnitOfWork) -> None:
    """The order reached authorized (called from the core's ``on_order_confirmed``)."""
    await _upsert(uow, event.order_id, event.campaign_id, authorized_at=event.occurred_at)


async def order_cancelled(event: OrderCancelled, uow: UnitOfWork) -> None:
    """Called from the core's ``on_order_cancelled``, for every cancel."""
    await _upsert(uow, event.order_id, event.campaign_id, cancelled_at=event.occurred_at)


_COUNTER_CELLS = text(
    """
    SELECT referral_code, source, sum(views) AS views, sum(shares) AS shares FROM (
        SELECT referral_code, source, views, shares
        FROM campaign_counter_sources WHERE campaign_id = :campaign_id
        UNION ALL
        SELECT referral_code, source, count(*) FILTER (WHERE kind = 'view'),
               count(*) FILTER (WHERE kind = 'share')
        FROM campaign_counter_increments WHERE campaign_id = :campaign_id
        GROUP BY referral_code, source
    ) AS hits GROUP BY referral_code, source
    """
)
_ORDER_CELLS = text(
    """
    SELECT referral_code, source, count(*) AS orders, count(authorized_at) AS authorized,
           count(cancelled_at) AS cancelled
    FROM stats_orders WHERE campaign_id = :campaign_id GROUP BY referral_code, source
    """
)
_HOURS = text(
    """
    SELECT date_trunc('hour', coalesce(placed_at, authorized_at) AT TIME ZONE 'UTC') AS hour,
           count(*) AS orders, count(authorized_at) AS authorized
    FROM stats_orders WHERE campaign_id = :campaign_id GROUP BY 1 ORDER BY 1
    """
)


async def campaign_stats(query: GetStats, uow: UnitOfWork) -> Stats:
    """The creator's stats of their campaign, read in one snapshot (REPEATABLE READ): the
    cells, their totals and the hours all agree, whatever is being counted meanwhile (and
    view/share hits are read rolled up and pending alike, so a roll-up moves nothing).
    Another creator's campaign is NotAllowed (the route answers 404), none NotFound."""
    session = uow.session
    await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
    campaign = await session.scalar(select(Campaign).where(Campaign.id == query.campaign_id))
    if campaign is None:
        raise NotFound("campaign_not_found", "No such campaign")
    campaign_domain.check_owner(campaign.creator_id, query.creator_id)
    params = {"campaign_id": campaign.id}
    cells: dict[tuple[str, str], Cell] = {}

    def cell(row: Any) -> Cell:
        key = (row.referral_code, row.source)
        return cells.setdefault(key, Cell(*key))

    for row in await session.execute(_COUNTER_CELLS, params):
        hits = cell(row)
        hits.views, hits.shares = int(row.views), int(row.shares)
    for row in await session.execute(_ORDER_CELLS, params):
        bought = cell(row)
        bought.orders, bought.authorized, bought.cancelled = (
            row.orders,
            row.authorized,
            row.cancelled,
        )
    hours = [
        Hour(r.hour.replace(tzinfo=UTC), r.orders, r.authorized)
        for r in await session.execute(_HOURS, params)
    ]
    return summarise(campaign.id, list(cells.values()), hours)
