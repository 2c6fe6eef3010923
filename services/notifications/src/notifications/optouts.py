"""Opt-outs and provider statuses (the write side of the HTTP entrypoints)."""

import logging
import uuid

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from .domain import address_digest, sms_keyword
from .models import Buyer, CampaignInfo, Delivery, OptOut

log = logging.getLogger(__name__)


async def opt_out(session: AsyncSession, channel: str, address: str, source: str) -> None:
    await session.execute(
        pg_insert(OptOut)
        .values(channel=channel, address_sha256=address_digest(channel, address), source=source)
        .on_conflict_do_nothing()
    )


async def unsubscribe_delivery(session: AsyncSession, delivery: uuid.UUID) -> bool:
    """Opt out the email address ``delivery`` went to; False when it is unknown."""
    address = await _delivery_address(session, delivery)
    if address is None:
        return False
    await opt_out(session, "email", address, "unsubscribe_link")
    log.info("unsubscribed", extra={"delivery_id": str(delivery)})
    return True


async def resubscribe_delivery(session: AsyncSession, delivery: uuid.UUID) -> bool:
    """Undo an unsubscribe: the email address ``delivery`` went to gets email again (its
    email opt-out is removed, whatever its source); False when the delivery is unknown."""
    address = await _delivery_address(session, delivery)
    if address is None:
        return False
    await session.execute(
        delete(OptOut).where(
            OptOut.channel == "email", OptOut.address_sha256 == address_digest("email", address)
        )
    )
    log.info("resubscribed", extra={"delivery_id": str(delivery)})
    return True


async def _delivery_address(session: AsyncSession, delivery: uuid.UUID) -> str | None:
    """The email address ``delivery`` went to (the buyer's or the creator's), if known."""
    row = (
        await session.execute(
            select(Delivery.recipient_kind, Delivery.order_id, Delivery.campaign_id).where(
                Delivery.id == delivery
            )
        )
    ).first()
    if row is None:
        return None
    if row.recipient_kind == "buyer":
        return await session.scalar(select(Buyer.email).where(Buyer.order_id == row.order_id))
    return await session.scalar(
        select(CampaignInfo.creator_email).where(CampaignInfo.campaign_id == row.campaign_id)
    )


async def sms_keyword_received(session: AsyncSession, sender: str, body: str) -> None:
    keyword = sms_keyword(body)
    if keyword == "stop":
        await opt_out(session, "sms", sender, "sms_stop")
    elif keyword == "start":
        await session.execute(
            delete(OptOut).where(
                OptOut.channel == "sms", OptOut.address_sha256 == address_digest("sms", sender)
            )
        )
    log.info("inbound sms", extra={"keyword": keyword})


async def record_provider_status(session: AsyncSession, sid: str, status: str) -> None:
    await session.execute(
        update(Delivery).where(Delivery.provider_message_id == sid).values(provider_status=status)
    )
