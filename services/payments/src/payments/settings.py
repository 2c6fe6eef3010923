"""Payments settings: the shared service settings plus Stripe's."""

from dropwave_runtime.settings import ServiceSettings
from pydantic import Field, SecretStr


class Settings(ServiceSettings):
    stripe_secret_key: SecretStr = Field(description="sk_live_... / sk_test_...")
    stripe_api_base: str | None = Field(
        None, description="Stripe API base URL override (the emulator); None: real Stripe"
    )
    stripe_webhook_secret: SecretStr = Field(description="whsec_... of the webhook endpoint")
    stripe_max_network_retries: int = Field(2, ge=0, le=10)
