"""``/api/v1/creators/me/payouts`` (the creator's bearer JWT): where the creator's Connect
account stands, and onboarding to it."""

from __future__ import annotations

from typing import Annotated

from dropwave_runtime.auth import CreatorId
from dropwave_runtime.bootstrap import provided
from dropwave_runtime.errors import DomainError
from dropwave_runtime.problems import problem_from
from dropwave_runtime.service import Runtime
from fastapi import APIRouter

from ..models import CreatorAccount
from ..settings import Settings
from ..stripe_gateway import StripeGateway
from .commands import StartOnboarding
from .handlers import creator_account, onboard_creator
from .schemas import OnboardingView, PayoutsView

router = APIRouter(prefix="/api/v1/creators/me/payouts", tags=["connect"])


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


@router.get("", response_model=PayoutsView)
async def payouts_status(creator: CreatorId, rt: Runtime[Settings]) -> PayoutsView:
    """The creator's Connect account as last reported by Stripe (no account yet: all false)."""
    return _view(await creator_account(rt.db, creator))


@router.post("/onboarding", response_model=OnboardingView)
async def start_onboarding(
    creator: CreatorId,
    rt: Runtime[Settings],
    gateway: Annotated[StripeGateway, provided("gateway")],
) -> OnboardingView:
    """The creator's Express account (created on first call) and a fresh onboarding link."""
    settings = rt.settings
    command = StartOnboarding(creator, settings.connect_refresh_url, settings.connect_return_url)
    try:
        onboarding = await onboard_creator(command, rt.db, gateway)
    except DomainError as error:  # pragma: no cover - see onboard_creator
        raise problem_from(error, "The payout account is not ready yet", status=503) from error
    return OnboardingView(
        **_view(onboarding.account).model_dump(),
        onboarding_url=onboarding.url,
        expires_at=onboarding.expires_at,
    )
