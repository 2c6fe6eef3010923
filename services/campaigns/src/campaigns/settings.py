from dropwave_runtime.settings import ServiceSettings
from pydantic import Field, SecretStr


class Settings(ServiceSettings):
    # Dev auth: HS256 tokens minted by `make token`. OIDC/JWKS replaces it (issue 3).
    auth_dev_secret: SecretStr = Field(description="HMAC secret for dev creator tokens")
    auth_issuer: str = "dropwave-dev"
    auth_audience: str = "dropwave-api"
    # Shortest allowed campaign; tests use seconds.
    min_campaign_duration_s: int = Field(3600, ge=0)
    # Deadline scheduler: how often each instance looks for active campaigns past deadline.
    deadline_poll_interval_s: float = Field(1.0, gt=0)
    # Hosts creators' custom CSS may load url() from (https only); empty: no url() at all.
    css_url_allowed_hosts: list[str] = Field(default_factory=list)
