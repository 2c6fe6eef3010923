from typing import ClassVar

from dropwave_runtime.settings import ServiceSettings
from pydantic import Field


class Settings(ServiceSettings):
    """The storefront's settings (README "Operating a service")."""

    public_url_fields: ClassVar[tuple[str, ...]] = ("public_base_url", "stripe_js_url")

    # The gateway's public URL: canonical and Open Graph URLs of the pages.
    public_base_url: str = Field(description="https://drops.example.com (no trailing slash)")
    # Stripe.js (production: Stripe's; the dev stack: the emulator's stand-in). Its origin
    # goes into the pages' Content-Security-Policy.
    stripe_js_url: str = "https://js.stripe.com/v3/"
    stripe_publishable_key: str = ""
    # Pages kept in memory per process: dropped when the storefront's handlers change a
    # campaign (PostgreSQL NOTIFY, every instance), else after this long at most.
    page_cache_ttl_s: float = Field(5.0, gt=0, le=300)
    page_cache_max_entries: int = Field(10_000, ge=1, le=1_000_000)
