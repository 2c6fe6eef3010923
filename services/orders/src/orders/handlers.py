"""Command handlers (place, cancel) and reactions to events; each runs in one unit of work."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dropwave_contracts.envelope import follow
from dropwave_contracts.events import (
    CampaignCancelled,
    CampaignCreated,
    CampaignFailed,
    CampaignPublished,
    CampaignSucceeded,
    CampaignUpdated,
    OrderCancelled,
    OrderConfirmed,
    OrderPlaced,
    PaymentActionRequired,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentCaptureFailed,
    PaymentFailed,
    PaymentRefunded,
    PaymentReleased,
    PriceTier,
    price_for_buyer,
)
from dropwave_runtime.db import UnitOfWork
from dropwave_runtime.errors import DomainError, Invalid, NotFound
from sqlalchemy import case, func, insert, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from . import abuse, domain
from .commands import CancelOrder, PlaceOrder
from .fulfilment import domain as fulfilment
from .models import CampaignSnapshot, Order, OrderRefund
from .settings import Settings

SERVICE = "orders"


@dataclass(frozen=True, slots=True)
class OrderSummary:
    """An order as its buyer is told of it (the routes answer with these fields)."""

    id: uuid.UUID
    campaign_id: uuid.UUID
    buyer_number: int
    status: str
    amount_cents: int
    currency: str
    client_secret: str | None = None
    failure_code: str | None = None
    decline_code: str | None = None
    cancel_reason: str | None = None
    refunded_cents: int = 0
    shipping_address: dict[str, Any] | None = None

    @classmethod
    def of(cls, order: Order) -> "OrderSummary":
        return cls(
            order.id,
            order.campaign_id,
            order.buyer_number,
            order.status,
            order.amount_cents,
            order.currency,
            order.client_secret,
            order.failure_code,
            order.decline_code,
            order.cancel_reason,
            order.refunded_cents,
            order.shipping_address,
        )


@dataclass(frozen=True, slots=True)
class Placed:
    """The order a command resolved to; `replayed`: it existed before (same key and request)."""

    order: OrderSummary
    replayed: bool


Outcome = Placed | DomainError


def _key_reused() -> Invalid:
    return Invalid(
        "idempotency_key_reused", "This Idempotency-Key was used with a different request"
    )


def _replay(order: OrderSummary, fingerprint: str, prior_fingerprint: str) -> Outcome:
    return Placed(order, replayed=True) if fingerprint == prior_fingerprint else _key_reused()


_PRIOR_ORDERS = text(
    "SELECT o.* FROM unnest(CAST(:keys AS varchar[])) AS k(key) CROSS JOIN LATERAL"
    " (SELECT * FROM orders WHERE campaign_id = :campaign_id AND idempotency_key = k.key"
    " LIMIT 1) AS o"
)
"""A batch's orders placed before, by key: one lookup of the (campaign, key) unique index
per key. An ``IN`` list over the keys let PostgreSQL read every order of the campaign
instead whenever its statistics still saw the campaign as small: under a viral drop,
which outgrows them between two analyses, each batch read the whole drop (ADR 0001)."""


async def place_orders(
    commands: Sequence[PlaceOrder], uow: UnitOfWork, *, campaign_id: uuid.UUID
) -> list[Outcome]:
    """Place a batch of orders on one campaign in one transaction (group commit).

    The campaign row is locked first, so every instance's batches for this campaign
    serialize and see each other's committed idempotency keys: no key is placed twice and
    buyer numbers follow the order of the commands. One UPDATE takes all the numbers; the
    orders and their OrderPlaced events go in with one statement each.
    """
    campaign = await uow.session.scalar(
        select(CampaignSnapshot).where(CampaignSnapshot.id == campaign_id).with_for_update()
    )
    if campaign is None:
        return [NotFound("campaign_not_found", "No such campaign")] * len(commands)
    keys = sorted({c.idempotency_key for c in commands})
    prior = {
        o.idempotency_key: o
        for o in await uow.session.scalars(
            select(Order).from_statement(_PRIOR_ORDERS),
            {"keys": keys, "campaign_id": campaign_id},
        )
    }
    refusal: DomainError | None = None
    try:
        domain.check_open(
            campaign.status,
            campaign.deadline,
            datetime.now(UTC),
            intake_closed=campaign.intake_closed_at is not None,
        )
    except DomainError as error:
        refusal = error

    outcomes: list[Outcome | None] = [None] * len(commands)
    first_with_key: dict[str, int] = {}
    fresh: list[int] = []
    ship_to = campaign.ship_to_countries or []
    addresses: dict[int, dict[str, str] | None] = {}
    for i, c in enumerate(commands):
        if (old := prior.get(c.idempotency_key)) is not None:
            outcomes[i] = _replay(OrderSummary.of(old), c.fingerprint, old.request_fingerprint)
        elif c.idempotency_key in first_with_key:
            continue  # the same key twice in this batch: resolved below
        elif refusal is not None:
            first_with_key[c.idempotency_key] = i
            outcomes[i] = refusal
        else:
            first_with_key[c.idempotency_key] = i
            try:
                addresses[i] = fulfilment.shipping_address(ship_to, c.shipping)
            except DomainError as error:  # no buyer number taken, nothing stored
                outcomes[i] = error
                continue
            fresh.append(i)

    if fresh:
        last = await uow.session.scalar(
            update(CampaignSnapshot)
            .where(CampaignSnapshot.id == campaign_id)
            .values(last_buyer_number=CampaignSnapshot.last_buyer_number + len(fresh))
            .returning(CampaignSnapshot.last_buyer_number)
        )
        assert last is not None
        rows: list[dict[str, Any]] = []
        events: list[OrderPlaced] = []
        # Each buyer's price is fixed here, with the number (the snapshot is already read).
        tiers = [PriceTier.model_validate(t) for t in campaign.price_tiers or ()]
        for i, number in zip(fresh, domain.buyer_numbers(last, len(fresh)), strict=True):
            c = commands[i]
            order_id = uuid.uuid4()
            amount = price_for_buyer(number, tiers, campaign.price_cents)
            row = {
                "id": order_id,
                "campaign_id": campaign_id,
                "buyer_number": number,
                "status": "pending",
                "amount_cents": amount,
                "currency": campaign.currency,
                "buyer_email": c.email,
                "buyer_phone": c.phone,
                "sms_consent": c.sms_consent and c.phone is not None,
                "shipping_address": addresses[i],
                "payment_method_id": c.payment_method_id,
                "referral_code": c.referral_code,
                "source": c.source,
                "idempotency_key": c.idempotency_key,
                "request_fingerprint": c.fingerprint,
                "client_ip": c.client_ip,
            }
            rows.append(row)
            events.append(
                OrderPlaced(
                    producer=SERVICE,
                    correlation_id=c.correlation_id,
                    campaign_id=campaign_id,
                    order_id=order_id,
                    buyer_number=number,
                    amount_cents=amount,
                    currency=campaign.currency,
                    buyer_email=c.email,
                    # The phone only with consent: nobody downstream may use it otherwise.
                    buyer_phone=c.phone if c.sms_consent else None,
                    payment_method_id=c.payment_method_id,
                    sms_consent=c.sms_consent and c.phone is not None,
                    creator_id=campaign.creator_id,
                    referral_code=c.referral_code,
                    source=c.source,
                    campaign_deadline=campaign.deadline,
                )
            )
            order = OrderSummary(
                order_id,
                campaign_id,
                number,
                "pending",
                amount,
                campaign.currency,
                shipping_address=addresses[i],
            )
            outcomes[i] = Placed(order, replayed=False)
        await uow.session.execute(insert(Order), rows)
        await uow.emit_many(events, [commands[i].trace_headers for i in fresh])

    resolved: list[Outcome] = []
    for i, c in enumerate(commands):
        outcome = outcomes[i]
        if outcome is None:  # a repeat of a key first seen earlier in this batch
            first = first_with_key[c.idempotency_key]
            outcome = outcomes[first]
            if isinstance(outcome, Placed):
                outcome = _replay(outcome.order, c.fingerprint, commands[first].fingerprint)
        assert outcome is not None
        resolved.append(outcome)
    return resolved


async def buyers_order(uow: UnitOfWork, order_id: uuid.UUID) -> tuple[CampaignSnapshot, Order]:
    """An order the buyer changes, locked after its campaign's row (shared): the closing job
    locks that row exclusively to close intake and tally, so the change either commits
    before the tally or sees intake closed."""
    campaign_id = await uow.session.scalar(select(Order.campaign_id).where(Order.id == order_id))
    if campaign_id is None:
        raise NotFound("order_not_found", "No such order")
    campaign = await uow.session.scalar(
        select(CampaignSnapshot)
        .where(CampaignSnapshot.id == campaign_id)
        .with_for_update(read=True)
    )
    assert campaign is not None
    order = await uow.session.scalar(select(Order).where(Order.id == order_id).with_for_update())
    assert order is not None
    return campaign, order


async def cancel_order(command: CancelOrder, uow: UnitOfWork) -> Order:
    """The buyer cancels before the deadline; campaigns uncounts it, payments releases it.

    The campaign row is locked (shared) before the order: the closing job locks it
    exclusively to close intake and tally, so a cancel either commits before the tally
    (which then leaves the order out) or sees intake closed and is refused. A cancel answered
    200 is never counted."""
    campaign, order = await buyers_order(uow, command.order_id)
    domain.check_cancellable(
        order.status,
        campaign.status,
        campaign.deadline,
        datetime.now(UTC),
        intake_closed=campaign.intake_closed_at is not None,
    )
    was_confirmed = order.status == "authorized"
    order.status = "cancelled"
    order.cancel_reason = domain.BUYER_CANCELLED
    order.client_secret = None
    await uow.emit(
        OrderCancelled(
            producer=SERVICE,
            correlation_id=command.correlation_id or str(order.id),
            campaign_id=order.campaign_id,
            order_id=order.id,
            buyer_number=order.buyer_number,
            reason=domain.BUYER_CANCELLED,
            was_confirmed=was_confirmed,
        )
    )
    return order


async def on_campaign_created(event: CampaignCreated, uow: UnitOfWork) -> None:
    """Know the draft's slug, so an order on it is refused as not published (409)."""
    await uow.session.execute(
        pg_insert(CampaignSnapshot)
        .values(
            id=event.campaign_id,
            last_buyer_number=0,
            slug=event.slug,
            title=event.title,
            price_cents=event.price_cents,
            currency=event.currency,
            min_orders=event.min_orders,
            deadline=event.deadline,
            creator_id=event.creator_id,
            price_tiers=[t.model_dump() for t in event.price_tiers],
            status="draft",
        )
        .on_conflict_do_nothing(index_elements=[CampaignSnapshot.id])
    )


async def on_campaign_published(event: CampaignPublished, uow: UnitOfWork) -> None:
    values = {
        "slug": event.slug,
        "title": event.title,
        "price_cents": event.price_cents,
        "currency": event.currency,
        "min_orders": event.min_orders,
        "deadline": event.deadline,
        "creator_id": event.creator_id,
        "price_tiers": [t.model_dump() for t in event.price_tiers],
        "ship_to_countries": list(event.ship_to_countries or []),
    }
    stmt = pg_insert(CampaignSnapshot).values(
        id=event.campaign_id, last_buyer_number=0, status="active", **values
    )
    # The publish carries the final rules; a draft becomes active, but a redelivered or
    # replayed publish never reopens a campaign that has since closed.
    status = case(
        (CampaignSnapshot.status == "draft", literal("active")), else_=CampaignSnapshot.status
    )
    await uow.session.execute(
        stmt.on_conflict_do_update(
            index_elements=[CampaignSnapshot.id], set_={**values, "status": status}
        )
    )


async def on_campaign_updated(event: CampaignUpdated, uow: UnitOfWork) -> None:
    """Keep the snapshot's title current (order emails and views use it)."""
    await uow.session.execute(
        update(CampaignSnapshot)
        .where(CampaignSnapshot.id == event.campaign_id)
        .values(title=event.title)
    )


async def _close(uow: UnitOfWork, campaign_id: uuid.UUID, status: str, closed_at: datetime) -> None:
    """The outcome, and when it came: personal data is erased a retention time after it."""
    await uow.session.execute(
        update(CampaignSnapshot)
        .where(CampaignSnapshot.id == campaign_id)
        .values(status=status, closed_at=func.coalesce(CampaignSnapshot.closed_at, closed_at))
    )


async def on_campaign_succeeded(event: CampaignSucceeded, uow: UnitOfWork) -> None:
    await _close(uow, event.campaign_id, "successful", event.closed_at)


async def on_campaign_failed(event: CampaignFailed, uow: UnitOfWork) -> None:
    await _close(uow, event.campaign_id, "failed", event.closed_at)


async def on_campaign_cancelled(event: CampaignCancelled, uow: UnitOfWork) -> None:
    await _close(uow, event.campaign_id, "cancelled", event.cancelled_at)


async def _order_for_update(uow: UnitOfWork, order_id: uuid.UUID) -> Order:
    order = await uow.session.scalar(select(Order).where(Order.id == order_id).with_for_update())
    if order is None:
        raise LookupError(f"unknown order {order_id}")
    return order


async def on_payment_authorized(
    event: PaymentAuthorized, uow: UnitOfWork, settings: Settings | None = None
) -> None:
    """The hold is in place: the order is confirmed and counts towards the minimum. The
    event carries the buyer's order token (for the confirmation mail's link to the order
    page) when the secret is at hand (``settings``, injected by the runtime)."""
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
            buyer_email=order.buyer_email or "",
            # Only with SMS consent (None: an order from before consent was kept, as then).
            buyer_phone=order.buyer_phone if order.sms_consent is not False else None,
            campaign_title=campaign.title,
            campaign_min_orders=campaign.min_orders,
            campaign_deadline=campaign.deadline,
            order_token=(
                domain.order_token(settings.order_token_secret.get_secret_value(), order.id)
                if settings is not None
                else None
            ),
        )
    )


async def on_payment_action_required(event: PaymentActionRequired, uow: UnitOfWork) -> None:
    order = await _order_for_update(uow, event.order_id)
    if domain.can_move(order.status, "requires_action"):
        order.status = "requires_action"
        order.payment_intent_id = event.payment_intent_id
        order.client_secret = event.client_secret


async def on_payment_failed(
    event: PaymentFailed, uow: UnitOfWork, policy: abuse.DeclinePolicy
) -> None:
    """The authorization failed; a card decline counts against the buyer's email and
    address (card-testing protection, ``abuse.py``)."""
    order = await _order_for_update(uow, event.order_id)
    if domain.can_move(order.status, "failed"):
        order.status = "failed"
        order.failure_code = event.failure_code
        order.decline_code = event.decline_code
        order.client_secret = None
        if abuse.is_card_decline(event.failure_code, event.decline_code):
            await abuse.record_decline(uow.session, order.buyer_email, order.client_ip, policy)


async def on_payment_captured(event: PaymentCaptured, uow: UnitOfWork) -> None:
    """Settlement charged the buyer (also after a failed capture was paid later)."""
    order = await _order_for_update(uow, event.order_id)
    if domain.can_move(order.status, "captured"):
        order.status = "captured"
        order.client_secret = None


async def on_payment_capture_failed(event: PaymentCaptureFailed, uow: UnitOfWork) -> None:
    """Settlement could not charge the buyer; the campaign still succeeded."""
    order = await _order_for_update(uow, event.order_id)
    if domain.can_move(order.status, "capture_failed"):
        order.status = "capture_failed"
        order.failure_code = (event.failure_code or "capture_failed")[:100]


async def on_payment_released(event: PaymentReleased, uow: UnitOfWork) -> None:
    """The hold was released because the campaign failed or was cancelled: the order will
    not happen. (A buyer-cancelled order is cancelled already and stays as it is.) No
    OrderCancelled follows: the campaign is closed and its count final."""
    order = await _order_for_update(uow, event.order_id)
    if domain.can_move(order.status, "cancelled"):
        order.status = "cancelled"
        order.client_secret = None


async def on_payment_refunded(event: PaymentRefunded, uow: UnitOfWork) -> None:
    """A refund of the order's payment: counted once per refund (the inbox dedupes the
    event, ``order_refunds`` the refund); the order reads ``refunded`` once the refunds cover
    its amount, a partly refunded one keeps its status and shows ``refunded_cents``."""
    order = await _order_for_update(uow, event.order_id)
    counted = await uow.session.scalar(
        pg_insert(OrderRefund)
        .values(refund_id=event.refund_id, order_id=order.id, amount_cents=event.amount_cents)
        .on_conflict_do_nothing(index_elements=[OrderRefund.refund_id])
        .returning(OrderRefund.refund_id)
    )
    if counted is None:
        return
    order.refunded_cents += event.amount_cents
    status = domain.status_after_refunds(order.status, order.amount_cents, order.refunded_cents)
    if status != order.status:
        order.status = status
        order.client_secret = None
