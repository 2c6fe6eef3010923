"""HTTP bodies of the creator's settings."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .domain import E164, Choice

Phone = Annotated[str, StringConstraints(pattern=E164)]


class CreatorSettingsUpdate(BaseModel):
    """The whole settings (PUT): a phone left out is removed."""

    model_config = ConfigDict(extra="forbid")

    milestone_notifications: Choice = Field(
        description="How you hear about milestones, tipping and the outcome of your drops: "
        "`email` (to your sign-in's address), `sms` (needs `phone`), `both`, or `none`"
    )
    phone: Phone | None = Field(None, description="E.164, like +15551234567")


class CreatorSettingsView(BaseModel):
    email: str | None = Field(description="Your sign-in's email (the token's claim), if known")
    phone: str | None
    milestone_notifications: Choice
