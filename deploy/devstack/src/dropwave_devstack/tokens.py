"""Dev creator tokens (`make token`): RS256 JWTs signed with the dev issuer's key.

A running stack accepts them when they are signed with the key in its data dir: by default
``<repo root>/.dev`` (as ``up``); the e2e stack lives in a temporary dir, so tests pass
``data_dir=stack.data_dir`` (or call ``stack.mint_token``).

Like Clerk's and Auth0's, dev tokens carry an ``email`` claim (campaigns puts it on
CampaignPublished so creators get their notifications): ``<creator>@creators.dropwave.test``
unless another address is given (``make token CREATOR=alice EMAIL=a@b.test``), or none with
``email=None`` (``--no-email``).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Final

import jwt

from .issuer import ALGORITHM, DEV_AUDIENCE, DEV_ISSUER, DevSigningKey
from .paths import default_data_dir

__all__ = [
    "DEFAULT_EMAIL",
    "DEV_AUDIENCE",
    "DEV_CREATOR_EMAIL_DOMAIN",
    "DEV_ISSUER",
    "DefaultEmail",
    "dev_creator_email",
    "mint_creator_token",
]

DEV_CREATOR_EMAIL_DOMAIN = "creators.dropwave.test"


class DefaultEmail:
    """Marker: no email given, use :func:`dev_creator_email`."""


DEFAULT_EMAIL: Final = DefaultEmail()


def dev_creator_email(creator_id: str) -> str:
    """The dev address of a creator: the id made safe as a local part, at a ``.test``
    domain (RFC 2606: never routed), e.g. ``alice@creators.dropwave.test``."""
    local = re.sub(r"[^A-Za-z0-9._+-]", "-", creator_id).strip(".-")[:64] or "creator"
    return f"{local}@{DEV_CREATOR_EMAIL_DOMAIN}"


def mint_creator_token(
    creator_id: str,
    ttl_s: int = 24 * 3600,
    *,
    data_dir: Path | str | None = None,
    issuer: str = DEV_ISSUER,
    audience: str = DEV_AUDIENCE,
    email: str | DefaultEmail | None = DEFAULT_EMAIL,
) -> str:
    """A token for ``creator_id`` that the stack rooted at ``data_dir`` accepts, with an
    ``email`` claim (default :func:`dev_creator_email`; ``None``: no claim)."""
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
    address = dev_creator_email(creator_id) if isinstance(email, DefaultEmail) else email
    if address is not None:
        claims["email"] = address
    return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
