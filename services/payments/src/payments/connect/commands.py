"""Connect's commands."""

from dataclasses import dataclass


@dataclass(frozen=True)
class StartOnboarding:
    """A creator asks for their payout account and a link to onboard it."""

    creator_id: str
    refresh_url: str
    """Where Stripe sends the creator when the link expired."""
    return_url: str
    """Where Stripe sends the creator after onboarding."""
