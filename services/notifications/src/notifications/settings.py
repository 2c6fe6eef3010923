"""Notifications settings: the shared service settings plus the mail provider."""

from dropwave_runtime.settings import ServiceSettings
from pydantic import Field, SecretStr


class Settings(ServiceSettings):
    """Read from the environment: ``SMTP_HOST``, ``SMTP_PORT``, ``MAIL_FROM``..."""

    smtp_host: str = Field(description="SMTP server host name")
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = Field(
        False, description="upgrade the connection with STARTTLS (required by most providers)"
    )
    smtp_timeout_s: float = Field(10.0, gt=0, description="per SMTP command")
    mail_from: str = Field(description='sender, e.g. "DropWave <no-reply@dropwave.example>"')
