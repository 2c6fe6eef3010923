"""Settings every service shares; each service subclasses and adds its own.

Values come from the environment (12-factor). Required values have no default so a
misconfigured process fails at start-up with a clear message, not at the first request.

``DROPWAVE_ENV`` (``production`` unless told otherwise; the dev stack and the tests say
``dev``) makes start-up refuse unsafe settings, checked here once for every service: each
service only declares which of its fields are secrets (``secret_fields``) and which are
public URLs (``public_url_fields``).
"""

import ipaddress
from functools import cached_property
from typing import ClassVar, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .client_ip import Network, parse_networks
from .http_limits import Rate, parse_rate

# Shortest secret accepted in production (bytes of the UTF-8 value): 32 random bytes, as
# `openssl rand -hex 32` gives (64 characters) or more.
MIN_SECRET_BYTES = 32
# Placeholders in deploy/ and the dev stack's values: refused in production, so a copied
# example cannot go live unnoticed.
PLACEHOLDER_MARKERS = ("replace-me", "not-for-production", "changeme", "devstack")
# Host names that never reach a real user (RFC 2606/6761 and friends).
NON_PUBLIC_SUFFIXES = (".localhost", ".local", ".test", ".example", ".invalid", ".internal")
NON_PUBLIC_HOSTS = frozenset({"localhost", "example.com", "example.org", "example.net"})


Role = Literal["api", "worker", "all"]
"""What one process of a service runs (README "Operating a service")."""


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    # Fields checked in production: secrets (minimum bytes each) and URLs users are sent to.
    secret_fields: ClassVar[dict[str, int]] = {}
    public_url_fields: ClassVar[tuple[str, ...]] = ()

    dropwave_env: Literal["production", "dev"] = Field(
        "production",
        description="production: refuse short or placeholder secrets and non-https or "
        "local public URLs at start-up; dev: the dev stack and tests",
    )
    database_url: str = Field(description="SQLAlchemy URL, postgresql+asyncpg://...")
    kafka_bootstrap_servers: str = Field(description="host:port[,host:port]")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    http_keep_alive_s: int = Field(
        130,
        ge=1,
        le=3600,
        description="how long an idle HTTP connection is kept open: longer than the proxy in "
        "front keeps its idle upstream connections (Caddy 2 min, nginx and load balancers "
        "60 s), so the proxy never sends a request on a connection this side just closed "
        "(a 502 to the client; uvicorn's own default is 5 s)",
    )
    log_level: str = "INFO"
    role: Role = Field(
        "all",
        description="api: HTTP and what requests need; worker: consumers, outbox relay and "
        "background jobs (HTTP only for /healthz, /readyz, /metrics); all: both "
        "(`serve --role` overrides)",
    )
    kafka_session_timeout_ms: int = Field(10_000, ge=6_000)
    # Bounded retries before a message goes to the dead-letter topic.
    consumer_max_attempts: int = Field(4, ge=1, le=20)
    consumer_backoff_base_s: float = Field(0.2, gt=0)
    consumer_backoff_max_s: float = Field(5.0, gt=0)
    # Records per poll, and handlers run at once (events of different orders of one
    # campaign run side by side; see dropwave_contracts.envelope). Keep it below the pool.
    consumer_batch_max: int = Field(200, ge=1, le=10_000)
    consumer_concurrency: int = Field(8, ge=1, le=256)
    consumer_poll_timeout_ms: int = Field(100, ge=1, le=10_000)
    outbox_batch_size: int = Field(500, ge=1, le=10_000)
    outbox_poll_interval_s: float = Field(1.0, gt=0)
    # How often a worker publishes its group's consumer lag and dead letters (gauges).
    lag_poll_interval_s: float = Field(15.0, gt=0)
    db_pool_size: int = Field(10, ge=1)
    # A database that is down or hung answers within these bounds (then 503
    # database_unavailable); see db.DatabaseTimeouts.
    db_connect_timeout_s: float = Field(5.0, gt=0, le=300)
    db_pool_timeout_s: float = Field(5.0, gt=0, le=300)
    db_statement_timeout_s: float = Field(10.0, gt=0, le=3600)
    # Young-generation GC threshold for `serve` (CPython's default is 700): see cli.tune_gc.
    gc_gen0_threshold: int = Field(50_000, ge=100, le=10_000_000)

    # -- limits that stop abuse (README "Limits", ADR 0008) --------------------------------
    # Proxies whose X-Forwarded-For is believed (the gateway); comma-separated CIDRs.
    trusted_proxies: str = "127.0.0.1/32,::1/128"
    # Request bodies: refused (413) before they are read; webhooks have their own limit.
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=64 * 1024 * 1024)
    webhook_max_body_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    # Requests per client address and route ("100/min"; "off"); per-route overrides as a
    # JSON object of route name -> rate; addresses never limited (CIDRs); how often the
    # instances pool their counts in PostgreSQL.
    rate_limit_default: str = "100/min"
    webhook_rate_limit: str = "60000/min"
    rate_limits: dict[str, str] = Field(default_factory=dict)
    rate_limit_exempt: str = ""
    rate_limit_sync_s: float = Field(1.0, gt=0, le=60)

    @field_validator("trusted_proxies", "rate_limit_exempt")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)  # fail at start-up, not at the first request
        return value

    @field_validator("rate_limit_default", "webhook_rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        parse_rate(value)
        return value

    @field_validator("rate_limits")
    @classmethod
    def _rates(cls, value: dict[str, str]) -> dict[str, str]:
        for rate in value.values():
            parse_rate(rate)
        return value

    @cached_property
    def trusted_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted_proxies)

    @cached_property
    def exempt_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.rate_limit_exempt)

    def rate_for(self, route: str, default: str | None = None) -> Rate | None:
        """The rate of a route (or another named limit): its override, else ``default``
        (else ``RATE_LIMIT_DEFAULT``)."""
        return parse_rate(self.rate_limits.get(route, default or self.rate_limit_default))

    @model_validator(mode="after")
    def _production_safe(self) -> Self:
        if self.dropwave_env != "production":
            return self
        problems = [p for name in self.secret_fields if (p := self._secret_problem(name))]
        problems += [p for name in self.public_url_fields if (p := self._url_problem(name))]
        if problems:
            raise ValueError(
                "unsafe settings for DROPWAVE_ENV=production (set DROPWAVE_ENV=dev for a "
                "local run): " + "; ".join(problems)
            )
        return self

    def _secret_problem(self, name: str) -> str | None:
        value = getattr(self, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env = name.upper()
        if not value:
            return f"{env} is not set"
        if len(str(value).encode()) < self.secret_fields[name]:
            return f"{env} is shorter than {self.secret_fields[name]} bytes"
        if any(marker in str(value).lower() for marker in PLACEHOLDER_MARKERS):
            return f"{env} is a placeholder or dev value"
        return None

    def _url_problem(self, name: str) -> str | None:
        value = getattr(self, name)
        if value is None:
            return None
        env = name.upper()
        return public_url_problem(str(value), env)


def public_url_problem(url: str, what: str) -> str | None:
    """Why ``url`` cannot be a link a user follows (None: it can): https on a public host."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        return f"{what} is not a URL"
    if parts.scheme != "https":
        return f"{what} must be an https URL"
    if any(marker in url.lower() for marker in PLACEHOLDER_MARKERS):
        return f"{what} is a placeholder"
    if not host or host in NON_PUBLIC_HOSTS or host.endswith(NON_PUBLIC_SUFFIXES):
        return f"{what} has a local or reserved host ({host or 'none'})"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None if "." in host else f"{what} has a local host name ({host})"
    if not address.is_global:
        return f"{what} points at a non-public address ({host})"
    return None
