"""Event handlers of an order's authorization: ``OrderPlaced`` (in runs) records the
payments and queues their authorizations, ``OrderCancelled`` records the cancel and queues
the release. Each runs in the consumer's unit of work, next to its inbox records; none calls
Stripe (the settlement worker's lanes do, ADR 0005)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from dropwave_contracts.events import OrderCancelled, OrderPlaced
from dropwave_runtime.db import UnitOfWork
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from ..connect.handlers import payout_account
from ..domain import (
    DEFAULT_CARD_SAVING,
    CardSaving,
    PaymentStatus,
    can_transition,
    platform_fee_cents,
)
from ..models import Payment, SettlementItem
from ..settlement.queue import AUTHORIZE, RELEASE, enqueue_item, enqueue_items


async def on_orders_placed(
    events: Sequence[OrderPlaced],
    uow: UnitOfWork,
    platform_fee_bps: int = 500,
    card_saving: CardSaving = DEFAULT_CARD_SAVING,
) -> None:
    """Record each order's payment (``pending``) and queue its authorization: no Stripe call
    here, so a handler retried or dead-lettered can never leave a PaymentIntent nothing
    tracks. The settlement worker's lanes authorize it (paced, retried from the durable
    queue, one PaymentIntent per order) and report the outcome.

    A run of orders (the consumer's ``Batched``: a viral drop's orders polled together)
    takes a handful of statements in all, not a handful each: the consumer spent most of
    a drop on a transaction per order.

    The inbox already drops a redelivery of the same event; this guards against the same
    order arriving again under another event id: an order already recorded is not queued
    twice (``PaymentAuthorized`` / ``PaymentActionRequired`` / ``PaymentFailed`` once).

    Whether the card is saved for an off-session charge is decided here too, from the
    campaign's deadline (``card_saving``): a campaign closing within the authorization's
    hold needs one Stripe request per order, the PaymentIntent alone. The deadline also
    orders the queue: authorizations of the drop closing first are sent first.
    """
    ids = [e.order_id for e in events]
    existing = set(
        await uow.session.scalars(
            select(Payment.order_id).where(Payment.order_id.in_(ids)).with_for_update()
        )
    )
    events = [e for e in events if e.order_id not in existing]
    if not events:
        return
    cancelled_first = set(
        await uow.session.scalars(
            select(SettlementItem.order_id).where(
                SettlementItem.order_id.in_(ids), SettlementItem.kind == RELEASE
            )
        )
    )

    # A destination charge to the creator's connected account when it can take it; else the
    # money stays on the platform (dev without Connect). The creator comes with the order, so
    # an OrderPlaced handled before its campaign's CampaignPublished is routed all the same.
    # Decided once, here: every attempt sends the same parameters under the same key.
    destinations: dict[tuple[uuid.UUID, str | None], str | None] = {}
    for e in events:
        if (e.campaign_id, e.creator_id) not in destinations:
            destinations[e.campaign_id, e.creator_id] = await payout_account(
                uow, e.campaign_id, e.creator_id
            )
    now = datetime.now(UTC)
    rows = []
    for e in events:
        destination = destinations[e.campaign_id, e.creator_id]
        # An order cancelled before this (a dead-lettered OrderPlaced replayed after its
        # OrderCancelled) is recorded released and never sent to Stripe.
        cancelled = e.order_id in cancelled_first
        rows.append(
            {
                "order_id": e.order_id,
                "campaign_id": e.campaign_id,
                "amount_cents": e.amount_cents,
                "currency": e.currency,
                "status": (PaymentStatus.RELEASED if cancelled else PaymentStatus.PENDING).value,
                "cancel_requested_at": now if cancelled else None,
                "destination_account": destination,
                "application_fee_cents": (
                    platform_fee_cents(e.amount_cents, platform_fee_bps) if destination else None
                ),
                # The buyer's card as sent; replaced by the one Stripe confirmed with.
                "payment_method_id": e.payment_method_id,
                "save_card": card_saving.needed(e.campaign_deadline, now),
                "correlation_id": e.correlation_id,
            }
        )
    await uow.session.execute(
        pg_insert(Payment).on_conflict_do_nothing(index_elements=[Payment.order_id]), rows
    )
    await enqueue_items(
        uow,
        AUTHORIZE,
        [
            (e, e.campaign_id, e.order_id, e.campaign_deadline)
            for e in events
            if e.order_id not in cancelled_first
        ],
    )


async def on_order_cancelled(event: OrderCancelled, uow: UnitOfWork) -> None:
    """The order was cancelled (by its buyer, or not authorized in time): record it on the
    payment and queue its release. No Stripe call here.

    From now on the payment is never captured (capture skips it, the sweep never queues
    it). The ``release`` item (idempotency key ``release:<order>``) cancels the
    PaymentIntent, retried until Stripe confirms; if the authorization is still queued the
    worker resolves it first (never sent: nothing to release; sent: released once known).

    Lock order is the worker lanes' (item, then payment), so a lane mid-call only makes this
    wait: the authorization item is made due now first, so a cancelled order's pending
    authorization is settled without waiting for its backoff.
    """
    await uow.session.execute(
        update(SettlementItem)
        .where(
            SettlementItem.order_id == event.order_id,
            SettlementItem.kind == AUTHORIZE,
            SettlementItem.status == "queued",
        )
        .values(next_attempt_at=func.now())
    )
    payment = await uow.session.scalar(
        select(Payment).where(Payment.order_id == event.order_id).with_for_update()
    )
    if payment is None:
        # Its OrderPlaced was not handled (dead-lettered): the release item records the
        # cancel, so a replayed OrderPlaced is never authorized (the lane skips the item).
        await enqueue_item(uow, event, RELEASE, event.campaign_id, event.order_id)
        return
    if payment.cancel_requested_at is not None:
        return
    payment.cancel_requested_at = func.now()
    if not can_transition(PaymentStatus(payment.status), PaymentStatus.RELEASED):
        return  # failed, captured, released: nothing held to release
    await enqueue_item(uow, event, RELEASE, payment.campaign_id, payment.order_id)
