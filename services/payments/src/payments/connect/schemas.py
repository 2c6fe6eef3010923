"""Connect's HTTP bodies."""

from pydantic import BaseModel, ConfigDict


class PayoutsView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: str | None
    charges_enabled: bool
    payouts_enabled: bool
    details_submitted: bool


class OnboardingView(PayoutsView):
    onboarding_url: str
    expires_at: int
