"""Dev-only secrets and creator tokens for the embedded stack (`make token`).

Production verifies OIDC tokens; these fixed values exist so a new user can call the API
of a local stack at once. They are passed to the services by the dev stack only.
"""

import time

import jwt

DEV_AUTH_SECRET = "dropwave-dev-auth-secret-not-for-production"  # noqa: S105
DEV_ORDER_TOKEN_SECRET = "dropwave-dev-order-token-secret-not-for-production"  # noqa: S105
DEV_ISSUER = "dropwave-dev"
DEV_AUDIENCE = "dropwave-api"


def mint_creator_token(
    creator_id: str, ttl_s: int = 24 * 3600, secret: str = DEV_AUTH_SECRET
) -> str:
    now = int(time.time())
    claims = {
        "sub": creator_id,
        "iss": DEV_ISSUER,
        "aud": DEV_AUDIENCE,
        "iat": now,
        "exp": now + ttl_s,
    }
    return jwt.encode(claims, secret, algorithm="HS256")
