"""Campaigns' test support: the service's app in-process, with the creator taken from
test headers instead of a verified token."""

from typing import Any

from campaigns.activity.settings import ActivitySettings
from campaigns.bootstrap import bootstrap
from campaigns.settings import Settings
from dropwave_runtime.auth import Creator, current_creator_identity
from fastapi import FastAPI, Request


def app_with_test_creators(
    db_url: str, activity: ActivitySettings | None = None, **settings: Any
) -> FastAPI:
    """The bootstrapped app (no lifespan: no broker, no jobs) whose creator is the
    ``X-Test-Creator`` header (with ``X-Test-Email`` as the token's email claim); delete
    ``app.dependency_overrides[current_creator_identity]`` to get the real verifier."""
    application = bootstrap(
        Settings(
            database_url=db_url,
            kafka_bootstrap_servers="127.0.0.1:1",
            auth_jwks_url="https://issuer.example/jwks.json",
            auth_issuer="https://issuer.example/",
            auth_audience="dropwave",
            **settings,
        ),
        activity,
    )

    async def creator_from_headers(request: Request) -> Creator:
        return Creator(request.headers["X-Test-Creator"], request.headers.get("X-Test-Email"))

    application.dependency_overrides[current_creator_identity] = creator_from_headers
    return application
