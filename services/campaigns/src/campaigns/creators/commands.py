"""What a creator asks about their settings."""

from dataclasses import dataclass

from .domain import Choice


@dataclass(frozen=True)
class GetSettings:
    creator_id: str
    creator_email: str | None = None
    """The token's email claim, when it carries one (remembered on the way)."""


@dataclass(frozen=True)
class SaveSettings:
    """The whole settings: a phone left out is removed."""

    creator_id: str
    milestone_notifications: Choice
    phone: str | None = None
    creator_email: str | None = None
