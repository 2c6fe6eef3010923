"""The read models messages are built from: campaigns (title, creator, tipping), buyers
(contact, confirmation) and creators (contact settings). Events about one row may come in
any order and more than once."""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

from dropwave_contracts.envelope import CampaignEvent
from dropwave_contracts.events import (
    CampaignCancelled,
    CampaignFailed,
    CampaignPublished,
    CampaignStretchGoalReached,
    CampaignSucceeded,
    CampaignTipped,
    CampaignUpdated,
    CreatorSettingsChanged,
    OrderCancelled,
    OrderConfirmed,
    OrderPlaced,
)
from dropwave_runtime.db import UnitOfWork
from sqlalchemy import func, literal, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import InstrumentedAttribute

from .models import Buyer, CampaignInfo, CreatorContact


async def _upsert(
    uow: UnitOfWork, key: InstrumentedAttribute[Any], key_value: Any, values: dict[str, Any]
) -> None:
    """Insert the row keyed `key = key_value`, or bring its `values` up to date."""
    await uow.session.execute(
        pg_insert(key.class_)
        .values({key.key: key_value, **values})
        .on_conflict_do_update(index_elements=[key], set_=values)
    )


async def on_campaign_published(event: CampaignPublished, uow: UnitOfWork) -> None:
    values = {
        "title": event.title,
        "creator_id": event.creator_id,
        "creator_email": event.creator_email,
        "min_orders": event.min_orders,
        "deadline": event.deadline,
        "price_cents": event.price_cents,
        "currency": event.currency,
        "price_tiers": [t.model_dump() for t in event.price_tiers],
    }
    await _upsert(uow, CampaignInfo.campaign_id, event.campaign_id, values)


async def on_campaign_updated(event: CampaignUpdated, uow: UnitOfWork) -> None:
    """A new title of an active campaign: later messages use it."""
    await uow.session.execute(
        update(CampaignInfo)
        .where(CampaignInfo.campaign_id == event.campaign_id)
        .values(title=event.title)
    )


async def on_campaign_tipped(event: CampaignTipped, uow: UnitOfWork) -> None:
    """Remember the tipping: a confirmation seen later may still be owed its message."""
    await uow.session.execute(
        pg_insert(CampaignInfo)
        .values(campaign_id=event.campaign_id, title="your drop", min_orders=event.min_orders)
        .on_conflict_do_nothing()
    )
    await uow.session.execute(
        update(CampaignInfo)
        .where(CampaignInfo.campaign_id == event.campaign_id)
        .values(tipped_event_id=event.event_id, tipped_at=event.tipped_at)
    )


async def on_stretch_goal_reached(event: CampaignStretchGoalReached, uow: UnitOfWork) -> None:
    """Remember the goal: a confirmation seen later may still be owed its message."""
    goal = {
        "event_id": str(event.event_id),
        "goal_orders": event.goal_orders,
        "message": event.message,
        "reached_at": event.reached_at.isoformat(),
    }
    await uow.session.execute(
        pg_insert(CampaignInfo)
        .values(campaign_id=event.campaign_id, title="your drop")
        .on_conflict_do_nothing()
    )
    reached = CampaignInfo.stretch_goals_reached
    await uow.session.execute(
        update(CampaignInfo)
        .where(
            CampaignInfo.campaign_id == event.campaign_id,
            ~reached.contains([{"event_id": goal["event_id"]}]),
        )
        .values(stretch_goals_reached=reached.op("||")(literal([goal], JSONB)))
    )


def _contact(event: OrderPlaced | OrderConfirmed) -> dict[str, Any]:
    return {
        "campaign_id": event.campaign_id,
        "buyer_number": event.buyer_number,
        "amount_cents": event.amount_cents,
        "currency": event.currency,
        "email": event.buyer_email,
        "phone": event.buyer_phone,
    }


async def on_orders_placed(events: Sequence[OrderPlaced], uow: UnitOfWork) -> None:
    """Each order's buyer: a run of them (the consumer's ``Batched``: a drop's orders polled
    together, never one order twice) in one statement. No message is sent for it."""
    rows = [
        {
            "order_id": e.order_id,
            **_contact(e),
            "sms_consent": e.sms_consent and e.buyer_phone is not None,
        }
        for e in events
    ]
    stmt = pg_insert(Buyer)
    await uow.session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Buyer.order_id],
            set_={k: stmt.excluded[k] for k in rows[0] if k != "order_id"},
        ),
        rows,
    )


async def on_order_confirmed(event: OrderConfirmed, uow: UnitOfWork) -> None:
    """The buyer, confirmed; and the campaign, if its publishing has not been seen yet."""
    contact = {**_contact(event), "confirmed_at": event.occurred_at}
    await _upsert(uow, Buyer.order_id, event.order_id, contact)
    await uow.session.execute(
        pg_insert(CampaignInfo)
        .values(
            campaign_id=event.campaign_id,
            title=event.campaign_title,
            min_orders=event.campaign_min_orders,
            deadline=event.campaign_deadline,
        )
        .on_conflict_do_nothing()
    )


async def on_campaign_closed(
    event: CampaignSucceeded | CampaignFailed | CampaignCancelled, uow: UnitOfWork
) -> None:
    """When the campaign closed (the first time told): its buyers' contacts are erased a
    retention time after it (``retention.py``)."""
    closed_at = event.cancelled_at if isinstance(event, CampaignCancelled) else event.closed_at
    await uow.session.execute(
        pg_insert(CampaignInfo)
        .values(campaign_id=event.campaign_id, title="your drop", closed_at=closed_at)
        .on_conflict_do_update(
            index_elements=[CampaignInfo.campaign_id],
            set_={"closed_at": func.coalesce(CampaignInfo.closed_at, closed_at)},
        )
    )


async def on_order_cancelled(event: OrderCancelled, uow: UnitOfWork) -> None:
    await uow.session.execute(
        update(Buyer).where(Buyer.order_id == event.order_id).values(cancelled=True)
    )


async def on_creator_settings_changed(event: CreatorSettingsChanged, uow: UnitOfWork) -> None:
    """The creator's contact settings, for every campaign of theirs, from the next message
    on (a pending one too: the worker reads the address when it sends). The highest version
    wins, whatever order the events come in."""
    values = {
        "email": event.email,
        "phone": event.phone,
        "milestone_channels": list(event.milestone_channels),
        "version": event.version,
    }
    stmt = pg_insert(CreatorContact).values(creator_id=event.creator_id, **values)
    await uow.session.execute(
        stmt.on_conflict_do_update(
            index_elements=[CreatorContact.creator_id],
            set_=values,
            where=CreatorContact.version < stmt.excluded.version,
        )
    )


Projection = Callable[[Any, UnitOfWork], Awaitable[None]]

PROJECTIONS: Final[Mapping[type[CampaignEvent], Projection]] = {
    CampaignPublished: on_campaign_published,
    CampaignUpdated: on_campaign_updated,
    CampaignTipped: on_campaign_tipped,
    CampaignStretchGoalReached: on_stretch_goal_reached,
    OrderConfirmed: on_order_confirmed,
    OrderCancelled: on_order_cancelled,
    CampaignSucceeded: on_campaign_closed,
    CampaignFailed: on_campaign_closed,
    CampaignCancelled: on_campaign_closed,
}
