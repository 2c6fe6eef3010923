from dropwave_runtime.auth import ASYMMETRIC_ALGORITHMS, CreatorAuthSettings
from pydantic import Field

__all__ = ["ASYMMETRIC_ALGORITHMS", "Settings"]


class Settings(CreatorAuthSettings):
    """Campaigns' settings; creators' OIDC settings (``AUTH_*``) come from the runtime."""

    # Shortest allowed campaign; tests use seconds.
    min_campaign_duration_s: int = Field(3600, ge=0)
    # Deadline scheduler: how often each instance looks for active campaigns past deadline.
    deadline_poll_interval_s: float = Field(1.0, gt=0)
    # A campaign closes this long after its deadline (orders placed in time are then known)
    # once none of its orders is still authorizing, and at the latest after the max wait
    # (a buyer stuck in 3-D Secure does not hold the drop up). See ADR 0004.
    close_settle_s: float = Field(5.0, ge=0)
    close_max_wait_s: float = Field(600.0, ge=0)
    # Hosts creators' custom CSS may load url() from (https only); empty: no url() at all.
    css_url_allowed_hosts: list[str] = Field(default_factory=list)
    # Publishing needs a creator who can receive payouts (Stripe Connect); dev may waive it.
    require_payouts_to_publish: bool = True
