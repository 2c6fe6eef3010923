from typing import ClassVar

from dropwave_runtime.auth import CreatorAuthSettings
from dropwave_runtime.retention import RetentionSettings
from dropwave_runtime.settings import MIN_SECRET_BYTES
from pydantic import Field, SecretStr


class Settings(CreatorAuthSettings, RetentionSettings):
    """Orders' settings; creators' bearer tokens are verified as campaigns does (their
    orders list and CSV, ``fulfilment/routes.py``); buyers' personal data is erased
    ``PII_RETENTION_DAYS`` after a campaign closed (``fulfilment/jobs.py``)."""

    secret_fields: ClassVar[dict[str, int]] = {"order_token_secret": MIN_SECRET_BYTES}

    # Order tokens are HMACs of the order id: nothing to store, and a replayed
    # idempotent request can hand back the same token.
    order_token_secret: SecretStr = Field(
        description="HMAC secret for buyer order tokens (32+ random bytes)", min_length=16
    )
    # The closing job (ADR 0007): how often each instance looks for campaigns past their
    # deadline, and how long the tally waits for orders still authorizing at the deadline
    # (a buyer stuck in 3-D Secure does not hold the drop up; such an order is cancelled).
    close_poll_interval_s: float = Field(1.0, gt=0)
    close_max_wait_s: float = Field(600.0, ge=0)
    # Card-testing protection (abuse.py): this many card declines from one email or client
    # address within the window lock it out of ordering for DECLINE_LOCKOUT_S.
    decline_lockout_threshold: int = Field(3, ge=1)
    decline_window_s: float = Field(3600.0, gt=0)
    decline_lockout_s: float = Field(3600.0, gt=0)
