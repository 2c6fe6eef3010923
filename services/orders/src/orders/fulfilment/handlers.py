"""Fulfilment's handlers: the buyer's address change, the creator's orders, erasure."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from dropwave_runtime.db import UnitOfWork
from dropwave_runtime.errors import Conflict, NotFound
from dropwave_runtime.inputs import is_slug
from dropwave_runtime.retention import take_due
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .. import domain as orders_domain
from ..handlers import buyers_order
from ..models import CampaignSnapshot, Order
from . import domain
from .commands import ChangeShipping, ListOrders

CLOSED = ("successful", "failed", "cancelled")
MAX_SLUG = 120


async def change_shipping(command: ChangeShipping, uow: UnitOfWork) -> Order:
    """Replace the address until the deadline, while the order stands. Locks as a cancel
    does (campaign shared, then the order): the closing tally never races it."""
    campaign, order = await buyers_order(uow, command.order_id)
    orders_domain.check_open(
        campaign.status,
        campaign.deadline,
        datetime.now(UTC),
        intake_closed=campaign.intake_closed_at is not None,
    )
    if order.status not in orders_domain.CANCELLABLE:
        raise Conflict("order_not_editable", f"The order is {order.status}.")
    order.shipping_address = domain.shipping_address(
        campaign.ship_to_countries or [], command.address
    )
    return order


def _by_ref(ref: str) -> Any:
    """The campaign's id, or its slug; junk (NUL, non-ASCII...) never reaches the database."""
    try:
        return CampaignSnapshot.id == uuid.UUID(ref)
    except ValueError:
        return CampaignSnapshot.slug == ref if is_slug(ref, MAX_SLUG) else None


async def owned_campaign(session: AsyncSession, ref: str, creator_id: str) -> CampaignSnapshot:
    """The campaign (by id or slug) if the creator owns it; another's is not found (404)."""
    campaign = None
    if (where := _by_ref(ref)) is not None:
        campaign = await session.scalar(select(CampaignSnapshot).where(where))
    if campaign is None or campaign.creator_id != creator_id:
        raise NotFound("campaign_not_found", "No such campaign")
    return campaign


async def order_page(
    session: AsyncSession, campaign_id: uuid.UUID, query: ListOrders
) -> Sequence[Order]:
    """Orders by buyer number after ``query.after`` (keyset on the (campaign, buyer number)
    unique index), of one status if asked."""
    stmt = (
        select(Order)
        .where(Order.campaign_id == campaign_id, Order.buyer_number > query.after)
        .order_by(Order.buyer_number)
        .limit(query.limit)
    )
    if query.status is not None:
        stmt = stmt.where(Order.status == query.status)
    return (await session.scalars(stmt)).all()


def creator_view(order: Order) -> dict[str, Any]:
    """What the creator sees of an order (the phone only with SMS consent)."""
    return {
        "id": order.id,
        "buyer_number": order.buyer_number,
        "status": order.status,
        "email": order.buyer_email,
        "phone": order.buyer_phone if order.sms_consent else None,
        "shipping_address": order.shipping_address,
        "amount_cents": order.amount_cents,
        "currency": order.currency,
        "refunded_cents": order.refunded_cents,
        "referral_code": order.referral_code,
        "source": order.source,
        "placed_at": order.created_at,
    }


async def erase_personal_data(
    uow: UnitOfWork, now: datetime, retention: timedelta, max_campaigns: int = 10
) -> tuple[int, int]:
    """Erase the buyers' email, phone, address and client address on the orders of
    campaigns closed more than ``retention`` ago (refunds and disputes are over by then),
    a few campaigns per call (``SKIP LOCKED``: instances share the work). Amounts, statuses,
    buyer numbers and referral codes stay (the books and the stats need them). Returns the
    campaigns and the orders erased."""
    due = await take_due(
        uow.session,
        CampaignSnapshot.id,
        CampaignSnapshot.closed_at,
        CampaignSnapshot.pii_erased_at,
        now - retention,
        CampaignSnapshot.status.in_(CLOSED),
        limit=max_campaigns,
    )
    if not due:
        return 0, 0
    erased = await uow.session.execute(
        update(Order)
        .where(
            Order.campaign_id.in_(due),
            or_(Order.pii_erased_at.is_(None), Order.buyer_email.is_not(None)),
        )
        .values(
            buyer_email=None,
            buyer_phone=None,
            shipping_address=None,
            client_ip=None,
            payment_method_id=None,
            request_fingerprint="",
            pii_erased_at=now,
        )
    )
    await uow.session.execute(
        update(CampaignSnapshot).where(CampaignSnapshot.id.in_(due)).values(pii_erased_at=now)
    )
    return len(due), int(erased.rowcount or 0)  # type: ignore[attr-defined]
