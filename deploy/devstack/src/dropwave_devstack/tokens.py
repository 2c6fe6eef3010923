"""Dev creator tokens (`make token`): RS256 JWTs signed with the dev issuer's key.

A running stack accepts them when they are signed with the key in its data dir: by default
``<repo root>/.dev`` (as ``up``); the e2e stack lives in a temporary dir, so tests pass
``data_dir=stack.data_dir`` (or call ``stack.mint_token``).
"""

from __future__ import annotations

import time
from pathlib import Path

import jwt

from .issuer import ALGORITHM, DEV_AUDIENCE, DEV_ISSUER, DevSigningKey
from .paths import default_data_dir

__all__ = ["DEV_AUDIENCE", "DEV_ISSUER", "mint_creator_token"]


def mint_creator_token(
    creator_id: str,
    ttl_s: int = 24 * 3600,
    *,
    data_dir: Path | str | None = None,
    issuer: str = DEV_ISSUER,
    audience: str = DEV_AUDIENCE,
) -> str:
    """A token for ``creator_id`` that the stack rooted at ``data_dir`` accepts."""
    key = DevSigningKey.load_or_create(default_data_dir() if data_dir is None else data_dir)
    now = int(time.time())
    claims = {
        "sub": creator_id,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_s,
    }
    return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
