"""The work queue as stored: its kinds and statuses, what enqueues an item, and the
operators' listing and retry of items. Nothing here calls Stripe (the worker does)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from dropwave_contracts.envelope import Event
from dropwave_runtime.db import Database, UnitOfWork
from dropwave_runtime.observability import current_trace_headers
from sqlalchemy import func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from ..domain import PaymentStatus
from ..models import AuthorizationAttempt, CampaignTally, Payment, Settlement, SettlementItem

AUTHORIZE: Final = "authorize"
CAPTURE: Final = "capture"
RELEASE: Final = "release"
KINDS: Final = (AUTHORIZE, CAPTURE, RELEASE)

QUEUED: Final = "queued"
DONE: Final = "done"
FAILED: Final = "failed"
SKIPPED: Final = "skipped"
"""Item statuses: ``done`` (captured / released), ``failed`` (given up), ``skipped`` (the
payment no longer needed it, e.g. the buyer cancelled first)."""
OPEN: Final = (QUEUED, FAILED)
"""Items an operator still cares about (``queue list`` without ``--all``)."""

QUEUE_CHANNEL: Final = "payments_queue"
"""NOTIFYed when an item becomes due (migration 0005): idle lanes wake at once."""

RUNNING: Final = "running"
SETTLED: Final = "done"

ELIGIBLE: Final[dict[str, tuple[str, ...]]] = {
    CAPTURE: (PaymentStatus.AUTHORIZED.value,),  # and never a cancelled order
    RELEASE: (
        PaymentStatus.PENDING.value,
        PaymentStatus.REQUIRES_ACTION.value,
        PaymentStatus.AUTHORIZED.value,
    ),
}
"""Payment statuses a run enqueues (a ``pending`` one's release waits for its
authorization to be resolved)."""


async def enqueue_item(
    uow: UnitOfWork,
    cause: Event,
    kind: str,
    campaign_id: uuid.UUID,
    order_id: uuid.UUID,
    needed_by: datetime | None = None,
) -> None:
    """Queue one item for the settlement worker, due now (none if the order has one of
    that kind already), needed by ``needed_by`` (authorizations: the campaign's deadline).
    ``ON CONFLICT DO NOTHING`` never waits on a lane's row lock."""
    await enqueue_items(uow, kind, [(cause, campaign_id, order_id, needed_by)])


async def enqueue_items(
    uow: UnitOfWork,
    kind: str,
    items: Sequence[tuple[Event, uuid.UUID, uuid.UUID, datetime | None]],
) -> None:
    """``enqueue_item`` for many orders in one statement: (cause, campaign, order,
    needed by) each."""
    if not items:
        return
    traceparent = current_trace_headers()["traceparent"]
    await uow.session.execute(
        pg_insert(SettlementItem).on_conflict_do_nothing(),
        [
            {
                "order_id": order_id,
                "kind": kind,
                "campaign_id": campaign_id,
                "status": QUEUED,
                "needed_by": needed_by,
                "correlation_id": cause.correlation_id,
                "causation_id": str(cause.event_id),
                "traceparent": traceparent,
            }
            for cause, campaign_id, order_id, needed_by in items
        ],
    )


async def enqueue_eligible(uow: UnitOfWork, kind: str, where: Any) -> int:
    """Queue an item for every eligible payment matching ``where`` that has none yet."""
    eligible = select(
        Payment.order_id,
        literal(kind),
        Payment.campaign_id,
        literal(QUEUED),
        literal(current_trace_headers()["traceparent"]),
    ).where(where, Payment.status.in_(ELIGIBLE[kind]))
    if kind == CAPTURE:
        eligible = eligible.where(Payment.cancel_requested_at.is_(None))
    result = await uow.session.execute(
        pg_insert(SettlementItem)
        .from_select(["order_id", "kind", "campaign_id", "status", "traceparent"], eligible)
        .on_conflict_do_nothing()
        .returning(SettlementItem.campaign_id)
    )
    rows = result.all()
    campaigns = {row[0] for row in rows}
    if campaigns:
        await uow.session.execute(
            update(Settlement)
            .where(Settlement.campaign_id.in_(campaigns), Settlement.status != RUNNING)
            .values(status=RUNNING, finished_at=None)
        )
    return len(rows)


async def enqueue_release(uow: UnitOfWork, item: SettlementItem, payment: Payment) -> None:
    """Queue the order's ``release`` item (an unanswered attempt may hold a PaymentIntent)."""
    await uow.session.execute(
        pg_insert(SettlementItem)
        .values(
            order_id=payment.order_id,
            kind=RELEASE,
            campaign_id=payment.campaign_id,
            status=QUEUED,
            correlation_id=item.correlation_id,
            causation_id=item.causation_id,
            traceparent=item.traceparent,
        )
        .on_conflict_do_nothing()
    )


def waiting_for_tally() -> Any:
    """Correlated on ``settlement_items``: the item's capture run was decided on a tally
    (``tally_event_id``) that is not recorded here yet."""
    recorded = (
        select(CampaignTally.tally_event_id)
        .where(CampaignTally.tally_event_id == Settlement.tally_event_id)
        .exists()
    )
    return (
        select(Settlement.campaign_id)
        .where(
            Settlement.campaign_id == SettlementItem.campaign_id,
            Settlement.tally_event_id.is_not(None),
            ~recorded,
        )
        .exists()
    )


async def attempted(uow: UnitOfWork, order_id: uuid.UUID) -> bool:
    """Whether the order's authorization was ever sent to Stripe."""
    found = await uow.session.get(AuthorizationAttempt, order_id)
    return found is not None


# --- operators: python -m payments queue list|retry ---------------------------------------


def _row(item: SettlementItem) -> dict[str, Any]:
    return {
        "order_id": str(item.order_id),
        "campaign_id": str(item.campaign_id),
        "kind": item.kind,
        "status": item.status,
        "attempts": item.attempts,
        "last_error": item.last_error,
        "next_attempt_at": item.next_attempt_at.isoformat(),
    }


async def list_items(
    db: Database,
    *,
    kind: str | None = None,
    campaign_id: uuid.UUID | None = None,
    include_finished: bool = False,
    limit: int = 10_000,
) -> list[dict[str, Any]]:
    """Items of the queue, the next due first."""
    query = select(SettlementItem).order_by(SettlementItem.next_attempt_at, SettlementItem.order_id)
    if kind is not None:
        query = query.where(SettlementItem.kind == kind)
    if campaign_id is not None:
        query = query.where(SettlementItem.campaign_id == campaign_id)
    if not include_finished:
        query = query.where(SettlementItem.status.in_(OPEN))
    async with db.sessions() as session:
        items = (await session.scalars(query.limit(limit))).all()
    return [_row(item) for item in items]


class RetryRefusedError(Exception):
    """Nothing a retry can do (e.g. an authorization given up on: the order failed)."""


async def retry_item(
    db: Database, order_id: uuid.UUID, *, kind: str | None = None
) -> list[dict[str, Any]]:
    """Make the order's queued items (of ``kind``) due now and queue given-up ones again;
    returns them as they are now. Raises :class:`RetryRefusedError` when none can be."""
    async with db.unit_of_work() as uow:
        query = select(SettlementItem).where(
            SettlementItem.order_id == order_id, SettlementItem.status.in_(OPEN)
        )
        if kind is not None:
            query = query.where(SettlementItem.kind == kind)
        items = (await uow.session.scalars(query.with_for_update())).all()
        retried: list[SettlementItem] = []
        refused: list[str] = []
        for item in items:
            if item.status == FAILED and item.kind == AUTHORIZE:
                refused.append("authorize (given up: the payment failed and the order with it)")
                continue
            if item.status == FAILED:
                item.status = QUEUED
                item.attempts = 0
            item.next_attempt_at = func.now()
            retried.append(item)
        if not retried:
            raise RetryRefusedError("; ".join(refused) or "no queued or given-up item")
        campaigns = {item.campaign_id for item in retried}
        await uow.session.execute(  # a closed run takes its item back
            update(Settlement)
            .where(Settlement.campaign_id.in_(campaigns), Settlement.status != RUNNING)
            .where(Settlement.kind.in_({item.kind for item in retried}))
            .values(status=RUNNING, finished_at=None)
        )
        await uow.session.flush()
        for item in retried:
            await uow.session.refresh(item)
        return [_row(item) for item in retried]
