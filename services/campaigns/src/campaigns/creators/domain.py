"""Creator settings rules, free of I/O."""

from collections.abc import Mapping, Sequence
from typing import Final, Literal

from dropwave_runtime.errors import Invalid

Choice = Literal["email", "sms", "both", "none"]
CHANNELS: Final[Mapping[str, tuple[str, ...]]] = {
    "email": ("email",),
    "sms": ("sms",),
    "both": ("email", "sms"),
    "none": (),
}
"""How a creator hears about milestones, as the channels notifications uses."""

E164: Final = r"^\+[1-9]\d{6,14}$"
"""A phone number in E.164: ``+``, a country code that does not start with 0, 7-15 digits
(as orders takes the buyers')."""


def choice_of(channels: Sequence[str]) -> Choice:
    wanted = set(channels)
    if wanted == {"email", "sms"}:
        return "both"
    if wanted == {"sms"}:
        return "sms"
    if wanted == {"email"}:
        return "email"
    return "none"


def check_settings(choice: str, phone: str | None, email: str | None) -> list[str]:
    """The channels of a choice the creator can be reached on; Invalid otherwise."""
    channels = CHANNELS[choice]
    if "sms" in channels and not phone:
        raise Invalid("phone_required", "SMS needs your phone number (E.164, like +15551234567).")
    if "email" in channels and not email:
        raise Invalid(
            "email_required",
            "Email needs an address: sign in with one (your token's email claim), or choose "
            "SMS or none.",
        )
    return list(channels)
