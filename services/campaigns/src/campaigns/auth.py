"""Creator authentication: a bearer JWT, verified before any creator action."""

from typing import Annotated

import jwt
from dropwave_runtime.problems import Problem
from fastapi import Depends, Request

from .settings import Settings


def creator_id_from_token(token: str, settings: Settings) -> str:
    try:
        claims = jwt.decode(
            token,
            settings.auth_dev_secret.get_secret_value(),
            algorithms=["HS256"],
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
            options={"require": ["sub", "exp", "iss", "aud"]},
        )
    except jwt.PyJWTError as exc:
        raise Problem(401, "invalid_token", "The bearer token is invalid", str(exc)) from exc
    return str(claims["sub"])


def current_creator(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Problem(401, "unauthorized", "A bearer token is required")
    settings: Settings = request.app.state.runtime.settings
    return creator_id_from_token(token, settings)


CreatorId = Annotated[str, Depends(current_creator)]
