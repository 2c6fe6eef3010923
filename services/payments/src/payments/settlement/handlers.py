"""Event handlers of settlement: a campaign's outcome starts its capture or release run
(queued, never a Stripe call here), and orders' closing tally lets a capture run start."""

from __future__ import annotations

import logging
import uuid

from dropwave_contracts.envelope import Event
from dropwave_contracts.events import (
    CampaignCancelled,
    CampaignFailed,
    CampaignSucceeded,
    OrdersTallied,
)
from dropwave_runtime.db import UnitOfWork
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from ..models import CampaignTally, Payment, Settlement
from .queue import CAPTURE, RELEASE, RUNNING, enqueue_eligible

log = logging.getLogger(__name__)


async def start_run(
    uow: UnitOfWork,
    event: Event,
    campaign_id: uuid.UUID,
    kind: str,
    tally_event_id: uuid.UUID | None = None,
) -> int:
    """Record the run and enqueue its items; returns how many items were enqueued.

    Idempotent (a redelivered outcome enqueues nothing new). A campaign has one outcome, so
    a second run of another kind for the same campaign is ignored. A capture run with a
    ``tally_event_id`` is claimed only once that tally is recorded.
    """
    await uow.session.execute(
        pg_insert(Settlement)
        .values(
            campaign_id=campaign_id,
            kind=kind,
            status=RUNNING,
            correlation_id=event.correlation_id,
            causation_id=str(event.event_id),
            tally_event_id=tally_event_id,
        )
        .on_conflict_do_nothing(index_elements=[Settlement.campaign_id])
    )
    run_kind = await uow.session.scalar(
        select(Settlement.kind).where(Settlement.campaign_id == campaign_id)
    )
    if run_kind != kind:
        log.warning(
            "campaign already has a %s run; %s ignored",
            run_kind,
            kind,
            extra={"campaign_id": str(campaign_id)},
        )
        return 0
    return await enqueue_eligible(uow, kind, Payment.campaign_id == campaign_id)


async def on_campaign_succeeded(event: CampaignSucceeded, uow: UnitOfWork) -> None:
    """The drop happens: capture every standing authorization (queued; the worker captures
    once the tally the outcome was decided on is recorded here)."""
    await start_run(uow, event, event.campaign_id, CAPTURE, event.tally_event_id)


async def on_campaign_failed(event: CampaignFailed, uow: UnitOfWork) -> None:
    """The drop did not happen: release every hold (queued; the worker releases)."""
    await start_run(uow, event, event.campaign_id, RELEASE)


async def on_campaign_cancelled(event: CampaignCancelled, uow: UnitOfWork) -> None:
    """The creator cancelled: release every hold (queued; the worker releases)."""
    await start_run(uow, event, event.campaign_id, RELEASE)


async def on_orders_tallied(event: OrdersTallied, uow: UnitOfWork) -> None:
    """Orders' closing tally of a campaign: every ``OrderCancelled`` of it came before (same
    partition) and is handled. A capture run decided on this tally may start now."""
    await uow.session.execute(
        pg_insert(CampaignTally)
        .values(
            tally_event_id=event.event_id,
            campaign_id=event.campaign_id,
            standing_orders=event.standing_orders,
        )
        .on_conflict_do_nothing()
    )
