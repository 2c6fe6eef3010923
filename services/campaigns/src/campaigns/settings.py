import ipaddress
import json
from typing import Annotated
from urllib.parse import urlsplit

from dropwave_runtime.settings import ServiceSettings
from pydantic import Field, field_validator
from pydantic_settings import NoDecode

# Asymmetric JWS algorithms only: a shared-secret (HS*) or unsigned ("none") token must never
# be accepted, whatever the configuration says.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(ServiceSettings):
    # Creators: bearer JWTs from an OIDC provider (Clerk, Auth0, the dev stack's issuer),
    # verified against the provider's JWKS, fetched on first use and cached.
    auth_jwks_url: str = Field(description="the issuer's JWKS URL (https; http on loopback)")
    auth_issuer: str = Field(min_length=1, description="expected `iss` claim")
    auth_audience: str = Field(min_length=1, description="expected `aud` claim")
    auth_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["RS256", "ES256"],
        description="accepted JWS algorithms (comma-separated or a JSON list)",
    )
    auth_leeway_s: int = Field(30, ge=0, le=300, description="clock skew allowed on exp/nbf")
    auth_jwks_cache_s: float = Field(300.0, gt=0, description="how long a fetched JWKS is used")
    # Floor between two fetches (an unknown `kid` triggers one), so forged kids cannot make
    # us hammer the provider; also the back-off after a failed fetch.
    auth_jwks_min_refresh_s: float = Field(10.0, ge=0)
    auth_jwks_timeout_s: float = Field(5.0, gt=0)
    # Shortest allowed campaign; tests use seconds.
    min_campaign_duration_s: int = Field(3600, ge=0)
    # Deadline scheduler: how often each instance looks for active campaigns past deadline.
    deadline_poll_interval_s: float = Field(1.0, gt=0)
    # Hosts creators' custom CSS may load url() from (https only); empty: no url() at all.
    css_url_allowed_hosts: list[str] = Field(default_factory=list)

    @field_validator("auth_jwks_url")
    @classmethod
    def _jwks_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if not parts.hostname or parts.scheme not in ("https", "http"):
            raise ValueError("must be an absolute http(s) URL")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ValueError("must use https (plain http only on a loopback address)")
        return value

    @field_validator("auth_algorithms", mode="before")
    @classmethod
    def _split_algorithms(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("auth_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one algorithm is required")
        bad = sorted(set(value) - ASYMMETRIC_ALGORITHMS)
        if bad:
            raise ValueError(f"not allowed: {bad}; use asymmetric ones such as RS256, ES256")
        return list(dict.fromkeys(value))
