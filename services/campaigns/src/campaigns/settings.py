from dropwave_runtime.auth import ASYMMETRIC_ALGORITHMS, CreatorAuthSettings
from pydantic import Field

__all__ = ["ASYMMETRIC_ALGORITHMS", "Settings"]


class Settings(CreatorAuthSettings):
    """Campaigns' settings; creators' OIDC settings (``AUTH_*``) come from the runtime."""

    # Shortest allowed campaign; tests use seconds.
    min_campaign_duration_s: int = Field(3600, ge=0)
    # Hosts creators' custom CSS may load url() from (https only); empty: no url() at all.
    css_url_allowed_hosts: list[str] = Field(default_factory=list)
    # Publishing needs a creator who can receive payouts (Stripe Connect); dev may waive it.
    require_payouts_to_publish: bool = True
    # The largest legitimate body is a campaign: a 5,000-character description, 20,000
    # characters of custom CSS (up to 4 UTF-8 bytes each) and ten 2,048-character image
    # URLs, about 121 KB of JSON; 256 KiB leaves room for escapes (README "Limits").
    max_body_bytes: int = Field(256 * 1024, ge=1024, le=64 * 1024 * 1024)
