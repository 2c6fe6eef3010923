"""Creator authentication, written once: an OIDC bearer JWT (RS256/ES256) verified against
the issuer's JWKS. Services that serve creators (campaigns, payments) subclass
:class:`CreatorAuthSettings` and depend on :data:`CreatorId` (the subject) or
:data:`CurrentCreator` (the subject and, when the provider puts one in the token, the
creator's email: the ``email`` claim of Clerk/Auth0 tokens, used for creator notifications).

The JWKS is fetched on the first request that needs it (never at import or start-up, so a
provider outage cannot stop the service from starting), asynchronously, and cached. A token
whose `kid` is unknown triggers one refetch (the provider may have rotated its keys), at most
every `auth_jwks_min_refresh_s`, so forged kids cannot turn us into a load generator.
"""

import asyncio
import ipaddress
import json
import logging
import time
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import jwt
from fastapi import Depends, Request
from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from .problems import Problem
from .settings import ServiceSettings

log = logging.getLogger(__name__)

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


class CreatorAuthSettings(ServiceSettings):
    """Service settings plus the creators' OIDC provider: bearer JWTs (Clerk, Auth0, the dev
    stack's issuer) verified against the provider's JWKS, fetched on first use and cached."""

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
    auth_email_claim: str = Field(
        "email",
        min_length=1,
        description="the claim holding the creator's email (optional in tokens; ignored when "
        "malformed or when `email_verified` is false)",
    )

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


MAX_TOKEN_BYTES = 8192  # real ID/access tokens are ~1-2 KB; bigger ones are not parsed
MAX_SUBJECT_CHARS = 255  # creators.id is VARCHAR(255)
MAX_EMAIL_CHARS = 320  # RFC 5321: 64 + 1 + 255
MAX_JWKS_BYTES = 256 * 1024


class InvalidToken(Exception):
    """The token is not acceptable (the message is safe to show the caller)."""


class IssuerUnavailable(Exception):
    """The JWKS could not be fetched and no earlier copy is cached."""


class JwksCache:
    """The issuer's signing keys by `kid`, fetched lazily with httpx and kept for a while."""

    def __init__(self, url: str, *, ttl_s: float, min_refresh_s: float, timeout_s: float) -> None:
        self.url = url
        self.ttl_s = ttl_s
        self.min_refresh_s = min_refresh_s
        self.timeout_s = timeout_s
        self._keys: dict[str | None, jwt.PyJWK] | None = None
        self._fetched_at = 0.0  # monotonic time of the last successful fetch
        self._attempted_at = float("-inf")  # ... of the last attempt, successful or not
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> jwt.PyJWK:
        keys = await self._current(refresh=False)
        if kid not in keys:
            keys = await self._current(refresh=True)  # rotated? one rate-limited refetch
        if kid in keys:
            return keys[kid]
        if kid is None and len(keys) == 1:  # no kid in the token: fine only if unambiguous
            return next(iter(keys.values()))
        raise InvalidToken("No signing key of the issuer matches the token's key id")

    async def _current(self, *, refresh: bool) -> dict[str | None, jwt.PyJWK]:
        async with self._lock:  # one fetch at a time; the others wait for its result
            now = time.monotonic()
            fresh = self._keys is not None and now - self._fetched_at < self.ttl_s
            if (refresh or not fresh) and now - self._attempted_at >= self.min_refresh_s:
                self._attempted_at = now
                try:
                    self._keys = await self._fetch()
                    self._fetched_at = now
                except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
                    # Keep serving the keys we have: a provider blip must not log everyone out.
                    log.warning("fetching the JWKS from %s failed: %s", self.url, exc)
            if self._keys is None:
                raise IssuerUnavailable(f"the JWKS at {self.url} could not be fetched")
            return self._keys

    async def _fetch(self) -> dict[str | None, jwt.PyJWK]:
        async with httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False) as client:
            response = await client.get(self.url, headers={"Accept": "application/json"})
        response.raise_for_status()
        if len(response.content) > MAX_JWKS_BYTES:
            raise ValueError("the JWKS is too large")
        data: Any = response.json()
        if not isinstance(data, dict):
            raise ValueError("the JWKS is not a JSON object")
        keys: dict[str | None, jwt.PyJWK] = {}
        for key in jwt.PyJWKSet.from_dict(data).keys:  # skips keys PyJWT cannot use
            if key.public_key_use not in (None, "sig"):
                continue
            keys[key.key_id] = key
        if not keys:
            raise ValueError("the JWKS has no signing keys")
        return keys


@dataclass(frozen=True)
class Creator:
    """Who a verified token speaks for. ``email`` is None when the token carries none
    (or an unusable one): it is contact data, never logged."""

    id: str
    email: str | None = None

    def __repr__(self) -> str:  # keeps the address out of reprs in logs and tracebacks
        return f"Creator(id={self.id!r}, email={'<set>' if self.email else None})"


def email_from_claims(claims: dict[str, Any], claim: str = "email") -> str | None:
    """The creator's email from verified claims, or None: absent, not a plausible single
    address, or explicitly unverified (``email_verified: false``, as Auth0/Clerk mark it)."""
    value = claims.get(claim)
    if not isinstance(value, str):
        return None
    value = value.strip()
    if claims.get("email_verified") is False:
        return None
    if not value or len(value) > MAX_EMAIL_CHARS or value.count("@") != 1:
        return None
    local, domain = value.split("@")
    if not local or "." not in domain or domain.startswith(".") or domain.endswith("."):
        return None
    # No whitespace, controls, or header/list syntax: the address goes into a To: header.
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 or c in '<>,;:"()[]\\' for c in value):
        return None
    return value


class TokenVerifier:
    """Checks signature, algorithm, issuer, audience, expiry/not-before and the subject."""

    def __init__(self, settings: CreatorAuthSettings) -> None:
        self.issuer = settings.auth_issuer
        self.audience = settings.auth_audience
        self.algorithms = list(settings.auth_algorithms)
        self.leeway_s = settings.auth_leeway_s
        self.email_claim = settings.auth_email_claim
        self.jwks = JwksCache(
            settings.auth_jwks_url,
            ttl_s=settings.auth_jwks_cache_s,
            min_refresh_s=settings.auth_jwks_min_refresh_s,
            timeout_s=settings.auth_jwks_timeout_s,
        )

    async def creator_id(self, token: str) -> str:
        """The token's subject, or InvalidToken / IssuerUnavailable."""
        return (await self.creator(token)).id

    async def creator(self, token: str) -> Creator:
        """The token's subject and email claim, or InvalidToken / IssuerUnavailable."""
        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidToken("The token is too large")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("The token is not a well-formed JWT") from exc
        alg = header.get("alg")
        # Checked before any key lookup: "none" and HS256 (signed with our public key as
        # the HMAC secret) never get near a verifier.
        if alg not in self.algorithms:
            shown = repr(alg) if isinstance(alg, str) and len(alg) <= 16 else "this algorithm"
            raise InvalidToken(f"Tokens signed with {shown} are not accepted")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("The token's key id is invalid")
        key = await self.jwks.key(kid)
        try:
            # A PyJWK also pins the algorithm to the key's own (RSA key -> RS256 only).
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(_reason(exc)) from exc
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise InvalidToken("The token has no subject")
        if len(subject) > MAX_SUBJECT_CHARS:
            raise InvalidToken("The token's subject is too long")
        return Creator(subject, email_from_claims(claims, self.email_claim))


def _reason(exc: jwt.PyJWTError) -> str:
    """A short, stable explanation; PyJWT's messages can carry claim values."""
    reasons: list[tuple[type[jwt.PyJWTError], str]] = [
        (jwt.ExpiredSignatureError, "The token has expired"),
        (jwt.ImmatureSignatureError, "The token is not valid yet"),
        (jwt.InvalidIssuerError, "The token was issued by another issuer"),
        (jwt.InvalidAudienceError, "The token is meant for another audience"),
        (jwt.MissingRequiredClaimError, "The token lacks a required claim"),
        (jwt.InvalidSignatureError, "The token's signature does not verify"),
        (jwt.InvalidAlgorithmError, "The token's algorithm does not match its key"),
    ]
    for cls, text in reasons:
        if isinstance(exc, cls):
            return text
    return "The token is invalid"


def _challenge(error: str | None = None) -> dict[str, str]:
    """RFC 6750 challenge: bare on a missing token, with the error code on a bad one."""
    value = 'Bearer realm="dropwave"'
    if error:
        value += f', error="{error}"'
    return {"WWW-Authenticate": value}


def _verifier(request: Request) -> TokenVerifier:
    """One verifier (and JWKS cache) per app, made on first use."""
    state = request.app.state
    verifier: TokenVerifier | None = getattr(state, "token_verifier", None)
    if verifier is None:
        settings = request.app.state.runtime.settings
        assert isinstance(settings, CreatorAuthSettings)
        verifier = TokenVerifier(settings)
        state.token_verifier = verifier
    return verifier


async def current_creator_identity(request: Request) -> Creator:
    """The authenticated creator (id and email claim), or a 401/503 problem."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Problem(401, "unauthorized", "A bearer token is required", headers=_challenge())
    try:
        return await _verifier(request).creator(token)
    except InvalidToken as exc:
        log.info("rejected a bearer token: %s", exc)  # never the token itself
        raise Problem(
            401,
            "invalid_token",
            "The bearer token is invalid",
            str(exc),
            headers=_challenge("invalid_token"),
        ) from exc
    except IssuerUnavailable as exc:
        raise Problem(
            503,
            "auth_unavailable",
            "Sign-in cannot be checked right now",
            "The identity provider's keys could not be fetched; try again shortly.",
            headers={"Retry-After": "5"},
        ) from exc


CurrentCreator = Annotated[Creator, Depends(current_creator_identity)]


async def current_creator(creator: CurrentCreator) -> str:
    """The authenticated creator's id (the token's `sub`), or a 401/503 problem. Shares the
    verification with :data:`CurrentCreator` (FastAPI caches it per request)."""
    return creator.id


CreatorId = Annotated[str, Depends(current_creator)]
