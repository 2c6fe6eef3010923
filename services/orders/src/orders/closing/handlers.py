"""The closing job's round: close intakes, cancel orders not authorized in time, tally."""

import uuid
from datetime import datetime, timedelta

from dropwave_contracts.events import OrderCancelled, OrdersTallied
from dropwave_runtime.db import UnitOfWork
from dropwave_runtime.errors import Conflict, NotFound
from sqlalchemy import func, or_, select, update

from ..domain import NOT_AUTHORIZED_IN_TIME
from ..handlers import SERVICE
from ..models import CampaignSnapshot, Order
from . import domain
from .commands import CloseNow


async def close_and_tally(
    uow: UnitOfWork, limit: int, max_wait_s: float
) -> tuple[int, list[OrdersTallied]]:
    """One round of the closing job over campaigns past their deadline (by the database's
    clock, the same for every instance); returns how many campaigns it took and the tallies
    emitted.

    A campaign is taken (row lock, ``SKIP LOCKED``: any number of instances) when its intake
    is still open, or when its tally is ready: no order still authorizing, or `max_wait_s`
    past the deadline. Closing intake records how many orders are still authorizing; the
    tally cancels those still open after the wait (``not_authorized_in_time``), then counts
    and emits ``OrdersTallied`` through the outbox, after every earlier order event."""
    session = uow.session
    now: datetime = (await session.execute(select(func.now()))).scalar_one()
    authorizing = (
        select(Order.id)
        .where(Order.campaign_id == CampaignSnapshot.id, Order.status.in_(domain.AUTHORIZING))
        .exists()
    )
    due = (
        await session.scalars(
            select(CampaignSnapshot)
            .where(
                CampaignSnapshot.status == "active",
                CampaignSnapshot.tallied_at.is_(None),
                CampaignSnapshot.deadline <= now,
                or_(
                    CampaignSnapshot.intake_closed_at.is_(None),
                    ~authorizing,
                    CampaignSnapshot.deadline <= now - timedelta(seconds=max_wait_s),
                ),
            )
            .order_by(CampaignSnapshot.deadline)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    tallies: list[OrdersTallied] = []
    for campaign in due:
        by_status = await _count_by_status(uow, campaign.id)
        if campaign.intake_closed_at is None:
            campaign.intake_closed_at = now
            campaign.authorizing_at_close = domain.Tally.of(by_status).authorizing
        if not domain.tally_ready(
            domain.Tally.of(by_status).authorizing, campaign.deadline, now, max_wait_s
        ):
            continue
        late = await _cancel_unauthorized(uow, campaign.id)
        if late:
            by_status = await _count_by_status(uow, campaign.id)
        tally = domain.Tally.of(by_status)
        campaign.tallied_at = now
        event = OrdersTallied(
            producer=SERVICE,
            correlation_id=f"tally-{campaign.id}",
            campaign_id=campaign.id,
            min_orders=campaign.min_orders,
            standing_orders=tally.standing,
            placed_orders=tally.placed,
            cancelled_orders=tally.cancelled - late,
            failed_orders=tally.failed,
            authorizing_at_deadline=campaign.authorizing_at_close or 0,
            not_authorized_in_time=late,
            intake_closed_at=campaign.intake_closed_at,
        )
        await uow.emit(event)
        tallies.append(event)
    return len(due), tallies


async def _count_by_status(uow: UnitOfWork, campaign_id: uuid.UUID) -> dict[str, int]:
    rows = await uow.session.execute(
        select(Order.status, func.count())
        .where(Order.campaign_id == campaign_id)
        .group_by(Order.status)
    )
    return {status: count for status, count in rows.all()}  # noqa: C416


async def _cancel_unauthorized(uow: UnitOfWork, campaign_id: uuid.UUID) -> int:
    """Cancel the campaign's orders still authorizing when the wait ended; payments releases
    whatever hold it may still get for them. Returns how many."""
    rows = (
        await uow.session.execute(
            update(Order)
            .where(Order.campaign_id == campaign_id, Order.status.in_(domain.AUTHORIZING))
            .values(
                status="cancelled",
                cancel_reason=NOT_AUTHORIZED_IN_TIME,
                client_secret=None,
            )
            .returning(Order.id, Order.buyer_number)
        )
    ).all()
    await uow.emit_many(
        [
            OrderCancelled(
                producer=SERVICE,
                correlation_id=f"tally-{campaign_id}",
                campaign_id=campaign_id,
                order_id=order_id,
                buyer_number=number,
                reason=NOT_AUTHORIZED_IN_TIME,
                was_confirmed=False,
            )
            for order_id, number in rows
        ]
    )
    return len(rows)


async def move_deadline_to_now(uow: UnitOfWork, command: CloseNow) -> datetime:
    """An operator closes a campaign's intake now: its deadline becomes the database's now,
    so the closing job (run right after, or by any instance) closes and tallies it as at any
    deadline. Refused for an unknown campaign and one not open for orders; returns the
    deadline it had."""
    campaign = await uow.session.get(CampaignSnapshot, command.campaign_id, with_for_update=True)
    if campaign is None:
        raise NotFound("campaign_not_found", f"orders knows no campaign {command.campaign_id}")
    if campaign.status != "active" or campaign.tallied_at is not None:
        raise Conflict(
            "campaign_not_open",
            f"campaign {command.campaign_id} is {campaign.status}"
            + (", already tallied" if campaign.tallied_at is not None else ""),
        )
    now: datetime = (await uow.session.execute(select(func.now()))).scalar_one()
    was = campaign.deadline
    campaign.deadline = min(was, now)
    return was
