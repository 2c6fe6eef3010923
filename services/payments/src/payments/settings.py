"""Payments settings: the shared service settings plus Stripe's."""

from typing import ClassVar

from dropwave_runtime.auth import CreatorAuthSettings
from dropwave_runtime.settings import MIN_SECRET_BYTES
from pydantic import Field, SecretStr

from .domain import HOLD_S, SETTLEMENT_MARGIN_S


class Settings(CreatorAuthSettings):
    """Stripe, settlement, Connect (creators sign in with the same OIDC bearer JWTs as on
    campaigns: ``AUTH_*``), refunds and the pay-later grace period."""

    secret_fields: ClassVar[dict[str, int]] = {
        "pay_link_secret": MIN_SECRET_BYTES,
        "stripe_webhook_secret": MIN_SECRET_BYTES,
        "stripe_secret_key": MIN_SECRET_BYTES,
    }
    public_url_fields: ClassVar[tuple[str, ...]] = ("connect_refresh_url", "connect_return_url")

    connect_refresh_url: str = Field(
        "http://127.0.0.1/creators/payouts/refresh",
        description="where Stripe sends a creator whose onboarding link expired (https live)",
    )
    connect_return_url: str = Field(
        "http://127.0.0.1/creators/payouts/done",
        description="where Stripe sends a creator after onboarding (https live)",
    )
    pay_later_grace_s: float = Field(
        7 * 24 * 3600, gt=0, description="how long a buyer may pay after a failed capture"
    )
    pay_later_reminder_every_s: float = Field(
        2 * 24 * 3600, gt=0, description="time between two reminders to pay"
    )
    pay_later_poll_interval_s: float = Field(60.0, gt=0)
    pay_link_secret: SecretStr = Field(
        description="HMAC secret signing the buyer's pay-later link tokens (32+ random bytes; "
        "the same on every instance; rotating it voids the links already sent)",
        min_length=16,
    )

    stripe_secret_key: SecretStr = Field(description="sk_live_... / sk_test_...")
    stripe_api_base: str | None = Field(
        None, description="Stripe API base URL override (the emulator); None: real Stripe"
    )
    stripe_webhook_secret: SecretStr = Field(
        description="whsec_... of the webhook endpoint", min_length=1
    )
    stripe_webhook_unknown_grace_s: float = Field(
        3600.0,
        ge=0,
        description="a PaymentIntent webhook naming one of our orders that has no payment "
        "yet is refused (409, Stripe redelivers) until this long after the event's created "
        "time, covering the race with our own commit; later it is acknowledged (200) and "
        "logged for reconciliation (dropwave_payments_webhooks_unmatched_total)",
    )
    stripe_max_network_retries: int = Field(2, ge=0, le=10)
    stripe_timeout_s: float = Field(
        30.0, gt=0, le=80, description="client timeout of one Stripe HTTP request"
    )
    platform_fee_bps: int = Field(
        500, ge=0, le=10_000, description="platform fee in basis points of a charge (500: 5 %)"
    )
    # The work queue (authorize/capture/release), see settlement/ and rate_limit.py.
    stripe_rate_limit_per_s: float | None = Field(
        None,
        gt=0,
        description="Stripe requests/s shared by all instances; None: 25 (sk_test_) or 100",
    )
    stripe_rate_limit_burst: int = Field(1, ge=1, le=1000)
    settlement_concurrency: int = Field(8, ge=1, le=64, description="lanes per instance")
    authorize_batch: int = Field(
        10,
        ge=1,
        le=100,
        description="authorizations a lane claims and sends at once (one claim, one limiter "
        "upsert, one commit of the outcomes)",
    )
    capture_batch: int = Field(
        10,
        ge=1,
        le=100,
        description="captures a lane claims and sends at once (one claim, one limiter upsert, "
        "one commit of the outcomes)",
    )
    settlement_max_attempts: int = Field(
        8, ge=1, le=100, description="attempts of a capture before it is reported failed"
    )
    authorize_max_attempts: int = Field(
        20,
        ge=1,
        le=1000,
        description="attempts of an authorization (429/5xx/timeouts) before the payment fails "
        "with authorization_unavailable (20 with the default backoff: about 4-8 minutes)",
    )
    # Saving the card (a Customer + setup_future_usage: one more Stripe request per order)
    # only for a campaign that can outlive the card's authorization (ADR 0005).
    authorization_hold_s: float = Field(
        HOLD_S,
        gt=0,
        description="how long an authorization is relied on to hold: Stripe's 7 days for "
        "online card payments minus a day of safety (networks and issuers that expire "
        "sooner, clock skew, the queue's own delay before the authorization is made)",
    )
    settlement_margin_s: float = Field(
        SETTLEMENT_MARGIN_S,
        ge=0,
        description="how long after a campaign's deadline its captures may still run (orders' "
        "close wait, the tally, the capture queue at the Stripe rate, retries through an "
        "outage); the card is saved when deadline + this is later than now + "
        "authorization_hold_s",
    )
    settlement_retry_base_s: float = Field(0.5, gt=0)
    settlement_retry_max_s: float = Field(30.0, gt=0)
    settlement_poll_interval_s: float = Field(0.5, gt=0)

    @property
    def stripe_rate_limit(self) -> float:
        """Stripe's documented limit for the key's mode unless configured."""
        if self.stripe_rate_limit_per_s is not None:
            return self.stripe_rate_limit_per_s
        test_mode = self.stripe_secret_key.get_secret_value().startswith(("sk_test_", "rk_test_"))
        return 25.0 if test_mode else 100.0
