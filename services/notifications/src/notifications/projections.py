"""The read models messages are built from: campaigns (title, creator, tipping) and buyers
(contact, confirmation). Events about one row may come in any order and more than once."""

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from dropwave_contracts.envelope import CampaignEvent
from dropwave_contracts.events import (
    CampaignPublished,
    CampaignTipped,
    CampaignUpdated,
    OrderCancelled,
    OrderConfirmed,
    OrderPlaced,
)
from dropwave_runtime.db import UnitOfWork
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import InstrumentedAttribute

from .models import Buyer, CampaignInfo


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


def _contact(event: OrderPlaced | OrderConfirmed) -> dict[str, Any]:
    return {
        "campaign_id": event.campaign_id,
        "buyer_number": event.buyer_number,
        "amount_cents": event.amount_cents,
        "currency": event.currency,
        "email": event.buyer_email,
        "phone": event.buyer_phone,
    }


async def on_order_placed(event: OrderPlaced, uow: UnitOfWork) -> None:
    consent = event.sms_consent and event.buyer_phone is not None
    await _upsert(uow, Buyer.order_id, event.order_id, {**_contact(event), "sms_consent": consent})


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


async def on_order_cancelled(event: OrderCancelled, uow: UnitOfWork) -> None:
    await uow.session.execute(
        update(Buyer).where(Buyer.order_id == event.order_id).values(cancelled=True)
    )


Projection = Callable[[Any, UnitOfWork], Awaitable[None]]

PROJECTIONS: Final[Mapping[type[CampaignEvent], Projection]] = {
    CampaignPublished: on_campaign_published,
    CampaignUpdated: on_campaign_updated,
    CampaignTipped: on_campaign_tipped,
    OrderPlaced: on_order_placed,
    OrderConfirmed: on_order_confirmed,
    OrderCancelled: on_order_cancelled,
}
