"""Event handlers: one message per (event, recipient, channel), never sent twice.

The runtime calls each handler inside one transaction that also records the event in the
inbox, and retries it (then dead-letters it) when it raises. Per message:

1. ``INSERT ... ON CONFLICT DO NOTHING`` the delivery row (its id derived from the event,
   recipient and channel), then lock it. A committed ``sent``/``failed`` row ends here: a
   duplicate event or a second consumer instance never sends again. (A concurrent instance
   holding the same event blocks on the inbox/unique key until the first one commits.)
2. Render, send (Message-ID from the delivery id), mark ``sent`` and emit
   ``NotificationSent`` through the outbox; all of it commits with the inbox record.

The unavoidable window: the provider accepted the message and the process dies before the
commit. The retry then sends again with the same Message-ID (an SMTP sink or a provider that
deduplicates on it, or on an idempotency key derived from the delivery id, can drop it).
A transient failure rolls everything back so the runtime retries; a permanent one (address
refused) is recorded as ``failed`` with the SMTP code and is not retried.

Never log an address or a phone number: only ids.
"""

import logging
import uuid
from datetime import UTC, datetime
from typing import Literal

from dropwave_contracts.envelope import follow
from dropwave_contracts.events import NotificationSent, OrderConfirmed
from dropwave_runtime.db import UnitOfWork
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from .domain import delivery_id, order_confirmed_context
from .mailer import Mailer, PermanentDeliveryError, compose
from .models import DELIVERY_UNIQUE, Delivery
from .templates import render

log = logging.getLogger(__name__)

RecipientKind = Literal["buyer", "creator"]
Channel = Literal["email", "sms"]


async def claim_delivery(
    session: AsyncSession,
    *,
    source_event_id: uuid.UUID,
    campaign_id: uuid.UUID,
    recipient_kind: RecipientKind,
    channel: Channel,
    template: str,
) -> uuid.UUID | None:
    """The id of the delivery to send now, or None when it was already sent or failed."""
    did = delivery_id(source_event_id, recipient_kind, channel)
    await session.execute(
        pg_insert(Delivery)
        .values(
            id=did,
            source_event_id=source_event_id,
            campaign_id=campaign_id,
            recipient_kind=recipient_kind,
            channel=channel,
            template=template,
            status="pending",
            attempts=0,
        )
        .on_conflict_do_nothing(constraint=DELIVERY_UNIQUE)
    )
    row = (
        await session.execute(
            select(Delivery.id, Delivery.status)
            .where(
                Delivery.source_event_id == source_event_id,
                Delivery.recipient_kind == recipient_kind,
                Delivery.channel == channel,
            )
            .with_for_update()
        )
    ).one()
    if row.status != "pending":
        log.info(
            "notification already handled",
            extra={"delivery_id": str(row.id), "source_event_id": str(source_event_id)},
        )
        return None
    # Counted in the same transaction: a rolled-back (retried) attempt is not counted.
    await session.execute(
        update(Delivery).where(Delivery.id == row.id).values(attempts=Delivery.attempts + 1)
    )
    return uuid.UUID(str(row.id))


async def mark_sent(session: AsyncSession, did: uuid.UUID) -> None:
    await session.execute(
        update(Delivery)
        .where(Delivery.id == did)
        .values(status="sent", sent_at=datetime.now(UTC), last_error=None)
    )


async def mark_failed(session: AsyncSession, did: uuid.UUID, error: str) -> None:
    await session.execute(
        update(Delivery).where(Delivery.id == did).values(status="failed", last_error=error[:500])
    )


async def on_order_confirmed(event: OrderConfirmed, uow: UnitOfWork, mailer: Mailer) -> None:
    """Email the buyer "You're buyer #N ...", once."""
    template = "order_confirmed"
    did = await claim_delivery(
        uow.session,
        source_event_id=event.event_id,
        campaign_id=event.campaign_id,
        recipient_kind="buyer",
        channel="email",
        template=template,
    )
    if did is None:
        return
    message = compose(
        render(template, order_confirmed_context(event)), to=event.buyer_email, delivery_id=did
    )
    ids = {"delivery_id": str(did), "source_event_id": str(event.event_id)}
    try:
        await mailer.send(message)
    except PermanentDeliveryError as exc:
        await mark_failed(uow.session, did, str(exc))
        log.warning("notification refused", extra={**ids, "error": str(exc)})
        return
    await mark_sent(uow.session, did)
    await uow.emit(
        follow(
            event,
            NotificationSent,
            producer="notifications",
            campaign_id=event.campaign_id,
            notification_id=did,
            source_event_id=event.event_id,
            channel="email",
            template=template,
            recipient_kind="buyer",
        )
    )
    log.info("notification sent", extra={**ids, "template": template})
