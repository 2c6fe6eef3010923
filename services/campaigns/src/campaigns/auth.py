"""Creator authentication: the shared runtime's OIDC bearer JWT verifier (written once in
``dropwave_runtime.auth``, also used by payments), re-exported under campaigns' names."""

from dropwave_runtime.auth import (
    MAX_JWKS_BYTES,
    MAX_SUBJECT_CHARS,
    MAX_TOKEN_BYTES,
    Creator,
    CreatorId,
    CurrentCreator,
    InvalidToken,
    IssuerUnavailable,
    JwksCache,
    TokenVerifier,
    current_creator,
    current_creator_identity,
)

__all__ = [
    "MAX_JWKS_BYTES",
    "MAX_SUBJECT_CHARS",
    "MAX_TOKEN_BYTES",
    "Creator",
    "CreatorId",
    "CurrentCreator",
    "InvalidToken",
    "IssuerUnavailable",
    "JwksCache",
    "TokenVerifier",
    "current_creator",
    "current_creator_identity",
]
