"""The one event handler: keep the read models, then enqueue a delivery row per message of
the event (``messages.MESSAGES``).

Handlers never talk to a provider. Each runs in the runtime's unit of work (with the inbox
record) and only writes rows: the read models (``projections``) and ``deliveries`` rows in
``pending`` state. Workers (``worker.py``) send them. A campaign-wide message is one
``INSERT ... SELECT`` over the buyers of the campaign, so 10,000 buyers are 10,000 durable
rows written in one statement, not 10,000 tasks in memory.

Exactly once per (event, recipient, channel): the row's id and its unique key derive from
those three; a duplicate event (inbox), a redelivery or a second instance finds the row
(``ON CONFLICT DO NOTHING``).

Never log an address or a phone number: only ids.
"""

import json
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from dropwave_contracts.envelope import CampaignEvent
from dropwave_runtime.db import UnitOfWork
from sqlalchemy import select, text

from .messages import (
    MESSAGES,
    CampaignBuyers,
    CampaignCreator,
    Message,
    OrderBuyer,
    OrderEvent,
    Source,
)
from .models import Buyer, CampaignInfo
from .projections import PROJECTIONS

log = logging.getLogger(__name__)

# The delivery id is computed by PostgreSQL exactly as domain.delivery_id computes it:
# the first 16 bytes of sha256("<event id>/<kind>/<channel>/<ref>"). {buyers} picks them:
# one statement per shape, not optional parameters (``:order_id IS NULL OR ...``), whose
# generic plan (a prepared statement's, from its sixth run) can use no index and read every
# buyer of the table for each order's message (ADR 0006).
_BUYER_FANOUT = """
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
      AND {buyers}
    ON CONFLICT ON CONSTRAINT uq_deliveries_event_recipient_channel DO NOTHING
    """
_TO_ORDER_BUYER = text(_BUYER_FANOUT.format(buyers="b.order_id = CAST(:order_id AS uuid)"))
_TO_CAMPAIGN_BUYERS = text(
    _BUYER_FANOUT.format(
        buyers="""b.campaign_id = CAST(:campaign_id AS uuid)
      AND b.confirmed_at IS NOT NULL AND NOT b.cancelled
      AND (CAST(:confirmed_by AS timestamptz) IS NULL
           OR b.confirmed_at <= CAST(:confirmed_by AS timestamptz))"""
    )
)

# The creator's channels: their settings (``creators``, from CreatorSettingsChanged) when
# known, each channel only with its address; else email to CampaignPublished's address.
_CREATOR = text(
    """
    INSERT INTO deliveries (id, source_event_id, campaign_id, recipient_kind, recipient_ref,
                            channel, template, context, correlation_id)
    SELECT encode(substring(sha256(convert_to(
               CAST(:eid AS text) || '/creator/' || ch.channel || '/' || c.creator_id,
               'UTF8')) from 1 for 16), 'hex')::uuid,
           CAST(:eid AS uuid), c.campaign_id, 'creator', c.creator_id, ch.channel, :template,
           CAST(:context AS jsonb), :correlation_id
    FROM campaigns c
    LEFT JOIN creators s ON s.creator_id = c.creator_id
    CROSS JOIN (VALUES ('email'), ('sms')) AS ch(channel)
    WHERE c.campaign_id = CAST(:campaign_id AS uuid) AND c.creator_id IS NOT NULL
      AND (ch.channel = 'email' OR :with_sms)
      AND CASE WHEN s.creator_id IS NULL
               THEN ch.channel = 'email' AND c.creator_email IS NOT NULL
               ELSE ch.channel = ANY(s.milestone_channels)
                    AND CASE ch.channel WHEN 'email' THEN s.email IS NOT NULL
                                        ELSE s.phone IS NOT NULL END
          END
    ON CONFLICT ON CONSTRAINT uq_deliveries_event_recipient_channel DO NOTHING
    """
)


def _by_event(messages: Sequence[Message[Any]]) -> Mapping[type[CampaignEvent], list[Message[Any]]]:
    rows: defaultdict[type[CampaignEvent], list[Message[Any]]] = defaultdict(list)
    for message in messages:
        rows[message.event].append(message)
    return dict(rows)


_MESSAGES_OF: Final = _by_event(MESSAGES)

EVENTS: Final = tuple(dict.fromkeys([*PROJECTIONS, *_MESSAGES_OF]))
"""Every event notifications consumes: each goes to :func:`handle`."""


async def handle(event: CampaignEvent, uow: UnitOfWork) -> None:
    """The event's read model update, then each of its messages, in the table's order."""
    project = PROJECTIONS.get(type(event))
    if project is not None:
        await project(event, uow)
    messages = _MESSAGES_OF.get(type(event), [])
    if not messages:
        return
    campaign = await uow.session.get(CampaignInfo, event.campaign_id)
    for message in messages:
        found = message.source(event, campaign)
        sources = [found] if isinstance(found, Source) else list(found or ())
        for source in sources:
            context = {**message.context(event, campaign), **source.context}
            await enqueue(uow, message, event, source, context)


async def enqueue(
    uow: UnitOfWork,
    message: Message[Any],
    event: CampaignEvent,
    source: Source,
    context: dict[str, Any],
) -> int:
    """Write ``message``'s pending deliveries; how many are new."""
    params = {
        "eid": str(source.event_id),
        "template": message.template,
        "context": json.dumps(context),
        "correlation_id": source.correlation_id,
    }
    match message.recipients:
        case OrderBuyer():
            assert isinstance(event, OrderEvent)  # checked by the row
            return await _to_buyers(uow, message, params, order_id=event.order_id)
        case CampaignBuyers(confirmed_by=confirmed_by):
            count = await _to_buyers(
                uow,
                message,
                params,
                campaign_id=event.campaign_id,
                confirmed_by=confirmed_by(event) if confirmed_by else None,
            )
            log.info(
                "notifications enqueued",
                extra={
                    "template": message.template,
                    "campaign_id": str(event.campaign_id),
                    "count": count,
                },
            )
            return count
        case CampaignCreator():
            result = await uow.session.execute(
                _CREATOR,
                {
                    **params,
                    "campaign_id": str(event.campaign_id),
                    "with_sms": "sms" in message.channels,
                },
            )
            return int(getattr(result, "rowcount", 0) or 0)


async def _to_buyers(
    uow: UnitOfWork,
    message: Message[Any],
    params: dict[str, Any],
    *,
    order_id: Any = None,
    campaign_id: Any = None,
    confirmed_by: datetime | None = None,
) -> int:
    """One message per channel to the buyer of ``order_id`` (who must be known, from
    OrderPlaced/OrderConfirmed: if not yet, raise so the runtime retries the event), or to
    every confirmed, not cancelled buyer of ``campaign_id``."""
    with_sms = "sms" in message.channels
    if order_id is not None:
        known = await uow.session.scalar(select(Buyer.order_id).where(Buyer.order_id == order_id))
        if known is None:
            raise LookupError(f"no contact for order {order_id} yet")
        one = {**params, "with_sms": with_sms, "order_id": str(order_id)}
        result = await uow.session.execute(_TO_ORDER_BUYER, one)
    else:
        every = {
            **params,
            "with_sms": with_sms,
            "campaign_id": str(campaign_id),
            "confirmed_by": confirmed_by,
        }
        result = await uow.session.execute(_TO_CAMPAIGN_BUYERS, every)
    return int(getattr(result, "rowcount", 0) or 0)
