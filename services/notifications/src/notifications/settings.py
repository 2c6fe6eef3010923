"""Notifications settings: the shared service settings plus mail, SMS, links and the queue."""

from typing import ClassVar, Literal

from dropwave_runtime.retention import RetentionSettings
from dropwave_runtime.settings import MIN_SECRET_BYTES
from pydantic import Field, SecretStr, field_validator

from .domain import check_pay_later_template


class Settings(RetentionSettings):
    """Read from the environment: ``SMTP_HOST``, ``MAIL_FROM``, ``SMS_PROVIDER``..."""

    secret_fields: ClassVar[dict[str, int]] = {"notifications_link_secret": MIN_SECRET_BYTES}
    public_url_fields: ClassVar[tuple[str, ...]] = ("public_base_url", "pay_later_url_template")

    # -- email --------------------------------------------------------------------------------
    email_provider: Literal["smtp", "resend"] = Field(
        "smtp", description="where email goes: an SMTP server or Resend's HTTP API"
    )
    smtp_host: str = Field(description="SMTP server host name")
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = Field(
        False, description="upgrade the connection with STARTTLS (required by most providers)"
    )
    smtp_timeout_s: float = Field(10.0, gt=0, description="per SMTP command")
    smtp_max_connections: int = Field(
        8, ge=1, le=100, description="open SMTP connections per process, reused across sends"
    )
    smtp_max_messages_per_connection: int = Field(
        100, ge=1, description="then the connection is closed and a new one opened"
    )
    smtp_idle_timeout_s: float = Field(
        30.0, gt=0, description="an SMTP connection idle longer is not reused (servers drop it)"
    )
    mail_from: str = Field(description='sender, e.g. "DropWave <no-reply@dropwave.example>"')
    resend_api_key: SecretStr | None = None
    resend_api_url: str = "https://api.resend.com"
    email_rate_per_s: float = Field(
        50.0,
        gt=0,
        description="the email provider's limit, shared by every instance (kept in PostgreSQL); "
        "e.g. Resend's default is 2/s per team",
    )
    email_rate_burst: int = Field(1, ge=1, le=1000, description="sends allowed at once")

    # -- SMS ----------------------------------------------------------------------------------
    sms_provider: Literal["none", "file", "twilio"] = Field(
        "none",
        description="none: no SMS; file: the fake carrier (one JSON file per SMS in "
        "SMS_FILE_DIR, dev and tests); twilio: Twilio's Messages API",
    )
    sms_file_dir: str = ".dev/sms"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = Field(None, description="sender number (E.164)")
    twilio_messaging_service_sid: str | None = None
    twilio_api_base: str | None = Field(
        None, description="only for a local fake of Twilio's API (default api.twilio.com)"
    )
    sms_rate_per_s: float = Field(
        10.0,
        gt=0,
        description="the SMS provider's limit, shared by every instance (kept in PostgreSQL); "
        "Twilio queues per sender (1/s for a long code, more for short codes/services)",
    )
    sms_rate_burst: int = Field(1, ge=1, le=1000, description="sends allowed at once")

    # -- links and webhooks -------------------------------------------------------------------
    public_base_url: str = Field(
        "http://localhost:8080",
        description="the gateway's public URL: unsubscribe links and Twilio webhook URLs "
        "(signatures are computed over the public URL)",
    )
    notifications_link_secret: SecretStr = Field(
        description="HMAC secret of unsubscribe links (32+ random bytes)", min_length=16
    )
    pay_later_url_template: str = Field(
        "http://localhost:8080/pay/{order_id}#t={token}",
        description="the buyer's pay-later link after a failed capture: {order_id} and {token} "
        "(the link's signed token from payments) are filled in; a template without {token} "
        "gets it as the fragment #t= (the storefront's pay page reads it there; keep the "
        "token out of a query string: those are logged)",
    )

    @field_validator("pay_later_url_template")
    @classmethod
    def _pay_later_template(cls, value: str) -> str:
        return check_pay_later_template(value)

    # -- the delivery queue ---------------------------------------------------------------------
    delivery_workers: int = Field(1, ge=0, le=64, description="worker loops per process")
    delivery_concurrency: int = Field(16, ge=1, le=256, description="sends in flight per worker")
    delivery_batch_size: int = Field(200, ge=1, le=5000)
    delivery_lease_s: float = Field(
        120.0, gt=0, description="a claimed row is reclaimable after this (a crashed worker)"
    )
    delivery_poll_interval_s: float = Field(0.2, gt=0)
    delivery_max_attempts: int = Field(8, ge=1, le=50)
    delivery_backoff_base_s: float = Field(2.0, gt=0)
    delivery_backoff_max_s: float = Field(600.0, gt=0)
