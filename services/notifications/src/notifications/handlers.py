"""Event reactions: keep the read models, and enqueue one delivery row per message.

Handlers never talk to a provider. Each runs in the runtime's unit of work (with the inbox
record) and only writes rows: the buyer/campaign read models and ``deliveries`` rows in
``pending`` state. Workers (``worker.py``) send them. A campaign-wide message is one
``INSERT ... SELECT`` over the buyers of the campaign, so 10,000 buyers are 10,000 durable
rows written in one statement, not 10,000 tasks in memory.

Exactly once per (event, recipient, channel): the row's id and its unique key derive from
those three; a duplicate event (inbox), a redelivery or a second instance finds the row
(``ON CONFLICT DO NOTHING``).

Sources of truth, one per message:

* buyer "order confirmed": OrderConfirmed; "tipped": CampaignTipped (to buyers confirmed by
  then; a confirmation that arrives after the tipping but happened before it catches up);
  "charged $X": PaymentCaptured; "capture failed" + pay-later link: PaymentCaptureFailed;
  "refunded": PaymentRefunded; "pay-later reminder" (the same link, each reminder once):
  PaymentReminderIssued; "hold released": CampaignFailed / CampaignCancelled (the
  decision, fanned out to every confirmed, not cancelled buyer; payments releases the holds
  in reaction to the same events, and PaymentReleased also follows a buyer's own cancel,
  which needs no message).
* creator: milestones (CampaignMilestoneReached), tipped (CampaignTipped), result
  (CampaignSucceeded / CampaignFailed), by email, when CampaignPublished carried
  ``creator_email``.

Never log an address or a phone number: only ids.
"""

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dropwave_contracts.envelope import Event
from dropwave_contracts.events import (
    CampaignCancelled,
    CampaignFailed,
    CampaignMilestoneReached,
    CampaignPublished,
    CampaignSucceeded,
    CampaignTipped,
    CampaignUpdated,
    OrderCancelled,
    OrderConfirmed,
    OrderPlaced,
    PaymentCaptured,
    PaymentCaptureFailed,
    PaymentRefunded,
    PaymentReminderIssued,
)
from dropwave_runtime.db import UnitOfWork
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import InstrumentedAttribute

from .domain import format_deadline, format_money, order_confirmed_context
from .models import Buyer, CampaignInfo
from .templates import has_sms

log = logging.getLogger(__name__)

# The delivery id is computed by PostgreSQL exactly as domain.delivery_id computes it:
# the first 16 bytes of sha256("<event id>/<kind>/<channel>/<ref>").
_BUYER_FANOUT = text(
    """
    INSERT INTO deliveries (id, source_event_id, campaign_id, recipient_kind, recipient_ref,
                            order_id, channel, template, context, correlation_id)
    SELECT encode(substring(sha256(convert_to(
               CAST(:eid AS text) || '/buyer/' || ch.channel || '/' || b.order_id::text,
               'UTF8')) from 1 for 16), 'hex')::uuid,
           CAST(:eid AS uuid), b.campaign_id, 'buyer', b.order_id::text, b.order_id,
           ch.channel, :template, CAST(:context AS jsonb), :correlation_id
    FROM buyers b CROSS JOIN (VALUES ('email'), ('sms')) AS ch(channel)
    WHERE (ch.channel = 'email'
           OR (:with_sms AND b.phone IS NOT NULL AND b.sms_consent))
      AND (CAST(:order_id AS uuid) IS NULL OR b.order_id = CAST(:order_id AS uuid))
      AND (CAST(:campaign_id AS uuid) IS NULL
           OR (b.campaign_id = CAST(:campaign_id AS uuid)
               AND b.confirmed_at IS NOT NULL AND NOT b.cancelled
               AND (CAST(:confirmed_by AS timestamptz) IS NULL
                    OR b.confirmed_at <= CAST(:confirmed_by AS timestamptz))))
    ON CONFLICT ON CONSTRAINT uq_deliveries_event_recipient_channel DO NOTHING
    """
)

_CREATOR = text(
    """
    INSERT INTO deliveries (id, source_event_id, campaign_id, recipient_kind, recipient_ref,
                            channel, template, context, correlation_id)
    SELECT encode(substring(sha256(convert_to(
               CAST(:eid AS text) || '/creator/email/' || c.creator_id,
               'UTF8')) from 1 for 16), 'hex')::uuid,
           CAST(:eid AS uuid), c.campaign_id, 'creator', c.creator_id, 'email', :template,
           CAST(:context AS jsonb), :correlation_id
    FROM campaigns c
    WHERE c.campaign_id = CAST(:campaign_id AS uuid)
      AND c.creator_id IS NOT NULL AND c.creator_email IS NOT NULL
    ON CONFLICT ON CONSTRAINT uq_deliveries_event_recipient_channel DO NOTHING
    """
)


@dataclass(frozen=True)
class Source:
    """The event a message is caused by (its id keys the delivery)."""

    event_id: uuid.UUID
    correlation_id: str


def _params(event: Event | Source, template: str, context: dict[str, Any]) -> dict[str, Any]:
    return {
        "eid": str(event.event_id),
        "template": template,
        "context": json.dumps(context),
        "correlation_id": event.correlation_id,
    }


async def enqueue_for_order(
    uow: UnitOfWork,
    event: Event | Source,
    order_id: uuid.UUID,
    template: str,
    context: dict[str, Any],
) -> int:
    """One message per channel to the buyer of ``order_id``. The buyer must be known (from
    OrderPlaced/OrderConfirmed): if not yet, raise so the runtime retries the event."""
    known = await uow.session.scalar(select(Buyer.order_id).where(Buyer.order_id == order_id))
    if known is None:
        raise LookupError(f"no contact for order {order_id} yet")
    result = await uow.session.execute(
        _BUYER_FANOUT,
        {
            **_params(event, template, context),
            "with_sms": has_sms(template),
            "order_id": str(order_id),
            "campaign_id": None,
            "confirmed_by": None,
        },
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def enqueue_for_campaign_buyers(
    uow: UnitOfWork,
    event: Event | Source,
    campaign_id: uuid.UUID,
    template: str,
    context: dict[str, Any],
    confirmed_by: datetime | None = None,
) -> int:
    """Fan-out: one message per channel to every confirmed, not cancelled buyer."""
    result = await uow.session.execute(
        _BUYER_FANOUT,
        {
            **_params(event, template, context),
            "with_sms": has_sms(template),
            "order_id": None,
            "campaign_id": str(campaign_id),
            "confirmed_by": confirmed_by,
        },
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    log.info(
        "notifications enqueued",
        extra={"template": template, "campaign_id": str(campaign_id), "count": count},
    )
    return count


async def enqueue_for_creator(
    uow: UnitOfWork,
    event: Event | Source,
    campaign_id: uuid.UUID,
    template: str,
    context: dict[str, Any],
) -> int:
    """One email to the campaign's creator, when we know their address."""
    result = await uow.session.execute(
        _CREATOR, {**_params(event, template, context), "campaign_id": str(campaign_id)}
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def _campaign(uow: UnitOfWork, campaign_id: uuid.UUID) -> CampaignInfo | None:
    return await uow.session.get(CampaignInfo, campaign_id)


def _title(campaign: CampaignInfo | None) -> str:
    return campaign.title if campaign is not None else "your drop"


# --- read models --------------------------------------------------------------------------


async def _upsert(
    uow: UnitOfWork, key: InstrumentedAttribute[Any], key_value: Any, values: dict[str, Any]
) -> None:
    """Insert the row keyed `key = key_value`, or bring its `values` up to date: events
    about one row may come in any order and more than once."""
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


async def on_order_placed(event: OrderPlaced, uow: UnitOfWork) -> None:
    values = {
        "campaign_id": event.campaign_id,
        "buyer_number": event.buyer_number,
        "amount_cents": event.amount_cents,
        "currency": event.currency,
        "email": event.buyer_email,
        "phone": event.buyer_phone,
        "sms_consent": event.sms_consent and event.buyer_phone is not None,
    }
    await _upsert(uow, Buyer.order_id, event.order_id, values)


async def on_order_cancelled(event: OrderCancelled, uow: UnitOfWork) -> None:
    await uow.session.execute(
        update(Buyer).where(Buyer.order_id == event.order_id).values(cancelled=True)
    )


# --- buyers -------------------------------------------------------------------------------


async def on_order_confirmed(event: OrderConfirmed, uow: UnitOfWork) -> None:
    """Keep the buyer (confirmed), then "You're buyer #N ..." by email (and SMS)."""
    contact = {
        "campaign_id": event.campaign_id,
        "buyer_number": event.buyer_number,
        "amount_cents": event.amount_cents,
        "currency": event.currency,
        "email": event.buyer_email,
        "phone": event.buyer_phone,
        "confirmed_at": event.occurred_at,
    }
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
    await enqueue_for_order(
        uow, event, event.order_id, "order_confirmed", order_confirmed_context(event)
    )
    # Confirmed before the campaign tipped, but seen after the tipping: catch up.
    campaign = await _campaign(uow, event.campaign_id)
    if (
        campaign is not None
        and campaign.tipped_event_id is not None
        and campaign.tipped_at is not None
        and event.occurred_at <= campaign.tipped_at
    ):
        tipped = Source(campaign.tipped_event_id, event.correlation_id)
        await enqueue_for_order(
            uow, tipped, event.order_id, "campaign_tipped", _tipped_context(campaign)
        )


def _tipped_context(campaign: CampaignInfo) -> dict[str, Any]:
    return {
        "title": campaign.title,
        "min_orders": campaign.min_orders,
        "deadline": format_deadline(campaign.deadline) if campaign.deadline else "the deadline",
    }


async def on_campaign_tipped(event: CampaignTipped, uow: UnitOfWork) -> None:
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
    campaign = await _campaign(uow, event.campaign_id)
    assert campaign is not None
    await enqueue_for_campaign_buyers(
        uow,
        event,
        event.campaign_id,
        "campaign_tipped",
        _tipped_context(campaign),
        confirmed_by=event.tipped_at,
    )
    await enqueue_for_creator(
        uow,
        event,
        event.campaign_id,
        "creator_tipped",
        {
            "title": campaign.title,
            "current_orders": event.current_orders,
            "min_orders": event.min_orders,
        },
    )


async def _hold_released(
    uow: UnitOfWork, event: CampaignFailed | CampaignCancelled, reason: str
) -> None:
    campaign = await _campaign(uow, event.campaign_id)
    await enqueue_for_campaign_buyers(
        uow,
        event,
        event.campaign_id,
        "hold_released",
        {
            "title": _title(campaign),
            "reason": reason,
            "min_orders": campaign.min_orders if campaign and campaign.min_orders else 0,
        },
    )


async def on_campaign_failed(event: CampaignFailed, uow: UnitOfWork) -> None:
    await _hold_released(uow, event, "failed")
    await _creator_result(uow, event, "failed")


async def on_campaign_cancelled(event: CampaignCancelled, uow: UnitOfWork) -> None:
    await _hold_released(uow, event, "cancelled")


async def on_payment_captured(event: PaymentCaptured, uow: UnitOfWork) -> None:
    campaign = await _campaign(uow, event.campaign_id)
    await enqueue_for_order(
        uow,
        event,
        event.order_id,
        "payment_captured",
        {"title": _title(campaign), "amount": format_money(event.amount_cents, event.currency)},
    )


async def on_payment_capture_failed(event: PaymentCaptureFailed, uow: UnitOfWork) -> None:
    campaign = await _campaign(uow, event.campaign_id)
    until = event.pay_later_until
    await enqueue_for_order(
        uow,
        event,
        event.order_id,
        "capture_failed",
        {
            "title": _title(campaign),
            "pay_later_until": format_deadline(until) if until else None,
            "pay_token": event.pay_token if until else None,
        },
    )


async def on_payment_reminder_issued(event: PaymentReminderIssued, uow: UnitOfWork) -> None:
    """The buyer has not paid through the pay-later link yet: remind them (email, and SMS
    with consent). Each reminder is its own event, so each is sent once per channel."""
    campaign = await _campaign(uow, event.campaign_id)
    await enqueue_for_order(
        uow,
        event,
        event.order_id,
        "payment_reminder",
        {
            "title": _title(campaign),
            "pay_later_until": format_deadline(event.pay_later_until),
            "reminder_number": event.reminder_number,
            "pay_token": event.pay_token,
        },
    )


async def on_payment_refunded(event: PaymentRefunded, uow: UnitOfWork) -> None:
    campaign = await _campaign(uow, event.campaign_id)
    await enqueue_for_order(
        uow,
        event,
        event.order_id,
        "refunded",
        {"title": _title(campaign), "amount": format_money(event.amount_cents, event.currency)},
    )


# --- creators -----------------------------------------------------------------------------


async def on_milestone_reached(event: CampaignMilestoneReached, uow: UnitOfWork) -> None:
    campaign = await _campaign(uow, event.campaign_id)
    await enqueue_for_creator(
        uow,
        event,
        event.campaign_id,
        "creator_milestone",
        {
            "title": _title(campaign),
            "percent": event.percent,
            "current_orders": event.current_orders,
            "min_orders": event.min_orders,
        },
    )


async def _creator_result(
    uow: UnitOfWork, event: CampaignSucceeded | CampaignFailed, outcome: str
) -> None:
    campaign = await _campaign(uow, event.campaign_id)
    price = campaign.price_cents if campaign and campaign.price_cents else 0
    currency = campaign.currency if campaign and campaign.currency else "usd"
    await enqueue_for_creator(
        uow,
        event,
        event.campaign_id,
        "creator_result",
        {
            "title": _title(campaign),
            "outcome": outcome,
            "confirmed_orders": event.confirmed_orders,
            "min_orders": event.min_orders,
            "price": format_money(price, currency) if price else "the price",
            "gross": format_money(price * event.confirmed_orders, currency) if price else "",
        },
    )


async def on_campaign_succeeded(event: CampaignSucceeded, uow: UnitOfWork) -> None:
    await _creator_result(uow, event, "succeeded")
