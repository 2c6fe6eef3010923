"""Stripe Connect: creators onboard to an Express account; charges go to it.

* ``POST /api/v1/creators/me/payouts/onboarding`` (creator's bearer JWT): the creator's Express
  account (created once) and a fresh onboarding link.
* ``GET /api/v1/creators/me/payouts``: where the account stands.
* ``account.updated`` webhooks record the account's state (newest event wins) and emit
  ``CreatorPayoutsUpdated`` (keyed by creator) so campaigns knows who may publish.
* ``CampaignPublished`` gives the campaign -> creator map: the destination of the campaign's
  charges (``transfer_data``) and the owner allowed to refund its orders.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from dropwave_contracts.events import CampaignPublished, CreatorPayoutsUpdated
from dropwave_runtime.auth import CreatorId
from dropwave_runtime.db import UnitOfWork
from dropwave_runtime.problems import Problem
from dropwave_runtime.service import Runtime
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from .models_connect import CampaignCreator, CreatorAccount
from .settings import Settings
from .stripe_connect import account_state, create_express_account, onboarding_link
from .stripe_gateway import StripeGateway

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/creators/me/payouts", tags=["connect"])
PRODUCER = "payments"


class PayoutsView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: str | None
    charges_enabled: bool
    payouts_enabled: bool
    details_submitted: bool


class OnboardingView(PayoutsView):
    onboarding_url: str
    expires_at: int


def _view(row: CreatorAccount | None) -> PayoutsView:
    if row is None:
        return PayoutsView(
            account_id=None, charges_enabled=False, payouts_enabled=False, details_submitted=False
        )
    return PayoutsView(
        account_id=row.account_id,
        charges_enabled=row.charges_enabled,
        payouts_enabled=row.payouts_enabled,
        details_submitted=row.details_submitted,
    )


def gateway_of(request: Request) -> StripeGateway:
    gateway: StripeGateway = request.app.state.deps["gateway"]
    return gateway


@router.get("", response_model=PayoutsView)
async def payouts_status(creator: CreatorId, rt: Runtime[Settings]) -> PayoutsView:
    """The creator's Connect account as last reported by Stripe (no account yet: all false)."""
    async with rt.db.sessions() as session:
        return _view(await session.get(CreatorAccount, creator))


@router.post("/onboarding", response_model=OnboardingView)
async def start_onboarding(
    creator: CreatorId, rt: Runtime[Settings], request: Request
) -> OnboardingView:
    """The creator's Express account (created on first call) and a fresh onboarding link."""
    settings = rt.settings
    client = gateway_of(request).client
    async with rt.db.sessions() as session:
        row = await session.get(CreatorAccount, creator)
    if row is None:
        # Idempotent per creator at Stripe; concurrent first calls insert once here.
        state = await create_express_account(client, creator)
        async with rt.db.unit_of_work() as uow:
            await uow.session.execute(
                pg_insert(CreatorAccount)
                .values(
                    creator_id=creator,
                    account_id=state.account_id,
                    charges_enabled=state.charges_enabled,
                    payouts_enabled=state.payouts_enabled,
                    details_submitted=state.details_submitted,
                    state_at=0,
                )
                .on_conflict_do_nothing()
            )
        async with rt.db.sessions() as session:
            row = await session.get(CreatorAccount, creator)
        if row is None:  # pragma: no cover - the insert above or a concurrent one made it
            raise Problem(503, "account_unavailable", "The payout account is not ready yet")
    url, expires_at = await onboarding_link(
        client, row.account_id, settings.connect_refresh_url, settings.connect_return_url
    )
    return OnboardingView(**_view(row).model_dump(), onboarding_url=url, expires_at=expires_at)


async def on_account_updated(
    uow: UnitOfWork, stripe_event_id: str, created: int, account: Mapping[str, Any]
) -> CreatorPayoutsUpdated | None:
    """Record an ``account.updated``: the newest event's state wins (Stripe may deliver out of
    order). Emits ``CreatorPayoutsUpdated`` when the flags changed; None otherwise."""
    state = account_state(dict(account))
    row = await uow.session.scalar(
        select(CreatorAccount)
        .where(CreatorAccount.account_id == state.account_id)
        .with_for_update()
    )
    if row is None:
        creator = (account.get("metadata") or {}).get("creator_id")
        if not isinstance(creator, str) or not creator:
            return None  # not an account DropWave made
        row = CreatorAccount(creator_id=creator, account_id=state.account_id, state_at=0)
        row.charges_enabled = row.payouts_enabled = row.details_submitted = False
        uow.session.add(row)
    if created < row.state_at:
        return None  # an older state than the one recorded
    changed = (row.charges_enabled, row.payouts_enabled, row.details_submitted) != (
        state.charges_enabled,
        state.payouts_enabled,
        state.details_submitted,
    )
    row.charges_enabled = state.charges_enabled
    row.payouts_enabled = state.payouts_enabled
    row.details_submitted = state.details_submitted
    row.state_at = created
    if not changed:
        return None
    event = CreatorPayoutsUpdated(
        producer=PRODUCER,
        correlation_id=stripe_event_id[:128],
        causation_id=stripe_event_id[:128],
        creator_id=row.creator_id,
        account_id=state.account_id,
        charges_enabled=state.charges_enabled,
        payouts_enabled=state.payouts_enabled,
        details_submitted=state.details_submitted,
    )
    await uow.emit(event)
    return event


async def on_campaign_published(event: CampaignPublished, uow: UnitOfWork) -> None:
    """Remember the campaign's creator (idempotent)."""
    await uow.session.execute(
        pg_insert(CampaignCreator)
        .values(campaign_id=event.campaign_id, creator_id=event.creator_id)
        .on_conflict_do_nothing()
    )


async def payout_account(
    uow: UnitOfWork, campaign_id: uuid.UUID, creator_id: str | None = None
) -> str | None:
    """The connected account a campaign's charges go to, if its creator can take them.

    ``creator_id`` is the one ``OrderPlaced`` carries: with it the order needs nothing from
    ``CampaignPublished`` (which may not have been handled yet: it travels on another topic),
    and the campaign -> creator map is filled from it too. Without it (an older
    ``OrderPlaced``) the map decides.
    """
    if creator_id:
        await uow.session.execute(
            pg_insert(CampaignCreator)
            .values(campaign_id=campaign_id, creator_id=creator_id)
            .on_conflict_do_nothing()
        )
        owner: Any = creator_id
    else:
        owner = (
            select(CampaignCreator.creator_id)
            .where(CampaignCreator.campaign_id == campaign_id)
            .scalar_subquery()
        )
    account: str | None = await uow.session.scalar(
        select(CreatorAccount.account_id).where(
            CreatorAccount.creator_id == owner,
            CreatorAccount.charges_enabled.is_(True),
            CreatorAccount.payouts_enabled.is_(True),
        )
    )
    return account


async def campaign_owner(uow: UnitOfWork, campaign_id: uuid.UUID) -> str | None:
    owner: str | None = await uow.session.scalar(
        select(CampaignCreator.creator_id).where(CampaignCreator.campaign_id == campaign_id)
    )
    return owner
