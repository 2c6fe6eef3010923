from dropwave_runtime.settings import ServiceSettings
from pydantic import Field, SecretStr


class Settings(ServiceSettings):
    # Order tokens are HMACs of the order id: nothing to store, and a replayed
    # idempotent request can hand back the same token.
    order_token_secret: SecretStr = Field(description="HMAC secret for buyer order tokens")
