from dropwave_runtime.settings import ServiceSettings
from pydantic import Field, SecretStr


class Settings(ServiceSettings):
    # Dev auth: HS256 tokens minted by `make token`. OIDC/JWKS replaces it (issue 3).
    auth_dev_secret: SecretStr = Field(description="HMAC secret for dev creator tokens")
    auth_issuer: str = "dropwave-dev"
    auth_audience: str = "dropwave-api"
    # Shortest allowed campaign; tests use seconds.
    min_campaign_duration_s: int = Field(3600, ge=0)
