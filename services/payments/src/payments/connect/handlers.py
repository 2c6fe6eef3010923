"""Connect's handlers: a creator's Express account and onboarding link, the account's state
from ``account.updated`` webhooks, and the campaign -> creator map that routes charges and
says who may refund."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dropwave_contracts.events import CampaignPublished, CreatorPayoutsUpdated
from dropwave_runtime.db import Database, UnitOfWork
from dropwave_runtime.errors import Conflict
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from ..domain import PRODUCER
from ..models import CampaignCreator, CreatorAccount
from ..stripe_gateway import StripeGateway, account_state
from .commands import StartOnboarding


async def creator_account(db: Database, creator_id: str) -> CreatorAccount | None:
    """The creator's Connect account as last reported by Stripe (``None``: none yet)."""
    async with db.sessions() as session:
        return await session.get(CreatorAccount, creator_id)


@dataclass(frozen=True)
class Onboarding:
    account: CreatorAccount
    url: str
    expires_at: int


async def onboard_creator(
    command: StartOnboarding, db: Database, gateway: StripeGateway
) -> Onboarding:
    """The creator's Express account (created on first call) and a fresh onboarding link.
    Raises ``Conflict`` ``account_unavailable`` if the account row cannot be read back."""
    creator = command.creator_id
    row = await creator_account(db, creator)
    if row is None:
        # Idempotent per creator at Stripe; concurrent first calls insert once here.
        state = await gateway.create_express_account(creator)
        async with db.unit_of_work() as uow:
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
        row = await creator_account(db, creator)
        if row is None:  # pragma: no cover - the insert above or a concurrent one made it
            raise Conflict("account_unavailable", "The payout account is not ready yet")
    url, expires_at = await gateway.onboarding_link(
        row.account_id, command.refresh_url, command.return_url
    )
    return Onboarding(row, url, expires_at)


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
