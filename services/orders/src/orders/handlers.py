"""Commands from the API and reactions to events; each runs in one unit of work."""

import uuid
from datetime import UTC, datetime

from dropwave_contracts.envelope import follow
from dropwave_contracts.events import (
    CampaignCancelled,
    CampaignFailed,
    CampaignPublished,
    CampaignSucceeded,
    OrderConfirmed,
    OrderPlaced,
    PaymentActionRequired,
    PaymentAuthorized,
    PaymentFailed,
)
from dropwave_runtime.db import UnitOfWork
from dropwave_runtime.observability import correlation_id_var
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from . import domain
from .models import CampaignSnapshot, Order
from .schemas import OrderCreate

SERVICE = "orders"


async def find_by_key(uow: UnitOfWork, campaign_id: uuid.UUID, key: str) -> Order | None:
    return await uow.session.scalar(
        select(Order).where(Order.campaign_id == campaign_id, Order.idempotency_key == key)
    )


async def place_order(
    uow: UnitOfWork, campaign: CampaignSnapshot, body: OrderCreate, key: str, fingerprint: str
) -> Order:
    """Take the next buyer number and record the order with its OrderPlaced event."""
    domain.check_open(campaign.status, campaign.deadline, datetime.now(UTC))
    buyer_number = await uow.session.scalar(
        update(CampaignSnapshot)
        .where(CampaignSnapshot.id == campaign.id, CampaignSnapshot.status == "active")
        .values(last_buyer_number=CampaignSnapshot.last_buyer_number + 1)
        .returning(CampaignSnapshot.last_buyer_number)
    )
    if buyer_number is None:
        raise domain.OrderRefused(409, "campaign_not_open", "The campaign is closed.")
    order = Order(
        id=uuid.uuid4(),
        campaign_id=campaign.id,
        buyer_number=buyer_number,
        status="pending",
        amount_cents=campaign.price_cents,
        currency=campaign.currency,
        buyer_email=str(body.email),
        buyer_phone=body.phone,
        payment_method_id=body.payment_method_id,
        referral_code=body.referral_code,
        source=body.source,
        idempotency_key=key,
        request_fingerprint=fingerprint,
    )
    uow.session.add(order)
    await uow.session.flush()
    await uow.emit(
        OrderPlaced(
            producer=SERVICE,
            correlation_id=correlation_id_var.get() or str(order.id),
            campaign_id=campaign.id,
            order_id=order.id,
            buyer_number=buyer_number,
            amount_cents=order.amount_cents,
            currency=order.currency,
            buyer_email=order.buyer_email,
            buyer_phone=order.buyer_phone,
            payment_method_id=order.payment_method_id,
        )
    )
    return order


async def on_campaign_published(event: CampaignPublished, uow: UnitOfWork) -> None:
    values = {
        "slug": event.slug,
        "title": event.title,
        "price_cents": event.price_cents,
        "currency": event.currency,
        "min_orders": event.min_orders,
        "deadline": event.deadline,
        "status": "active",
    }
    await uow.session.execute(
        insert(CampaignSnapshot)
        .values(id=event.campaign_id, last_buyer_number=0, **values)
        .on_conflict_do_update(index_elements=[CampaignSnapshot.id], set_=values)
    )


async def _close(uow: UnitOfWork, campaign_id: uuid.UUID, status: str) -> None:
    await uow.session.execute(
        update(CampaignSnapshot).where(CampaignSnapshot.id == campaign_id).values(status=status)
    )


async def on_campaign_succeeded(event: CampaignSucceeded, uow: UnitOfWork) -> None:
    await _close(uow, event.campaign_id, "successful")


async def on_campaign_failed(event: CampaignFailed, uow: UnitOfWork) -> None:
    await _close(uow, event.campaign_id, "failed")


async def on_campaign_cancelled(event: CampaignCancelled, uow: UnitOfWork) -> None:
    await _close(uow, event.campaign_id, "cancelled")


async def _order_for_update(uow: UnitOfWork, order_id: uuid.UUID) -> Order:
    order = await uow.session.scalar(select(Order).where(Order.id == order_id).with_for_update())
    if order is None:
        raise LookupError(f"unknown order {order_id}")
    return order


async def on_payment_authorized(event: PaymentAuthorized, uow: UnitOfWork) -> None:
    """The hold is in place: the order is confirmed and counts towards the minimum."""
    order = await _order_for_update(uow, event.order_id)
    if not domain.can_move(order.status, "authorized"):
        return
    order.status = "authorized"
    order.payment_intent_id = event.payment_intent_id
    order.client_secret = None
    campaign = await uow.session.get(CampaignSnapshot, order.campaign_id)
    assert campaign is not None
    await uow.emit(
        follow(
            event,
            OrderConfirmed,
            producer=SERVICE,
            campaign_id=order.campaign_id,
            order_id=order.id,
            buyer_number=order.buyer_number,
            amount_cents=order.amount_cents,
            currency=order.currency,
            buyer_email=order.buyer_email,
            buyer_phone=order.buyer_phone,
            campaign_title=campaign.title,
            campaign_min_orders=campaign.min_orders,
            campaign_deadline=campaign.deadline,
        )
    )


async def on_payment_action_required(event: PaymentActionRequired, uow: UnitOfWork) -> None:
    order = await _order_for_update(uow, event.order_id)
    if domain.can_move(order.status, "requires_action"):
        order.status = "requires_action"
        order.payment_intent_id = event.payment_intent_id
        order.client_secret = event.client_secret


async def on_payment_failed(event: PaymentFailed, uow: UnitOfWork) -> None:
    order = await _order_for_update(uow, event.order_id)
    if domain.can_move(order.status, "failed"):
        order.status = "failed"
        order.failure_code = event.failure_code
        order.decline_code = event.decline_code
        order.client_secret = None
