"""Creator authentication through the gateway: dev-issuer RS256 tokens, checked by campaigns
against the stack's JWKS; stable problem codes for every refusal."""

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from dropwave_devstack.stack import DevStack
from dropwave_devstack.tokens import mint_creator_token

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def _draft() -> dict[str, Any]:
    return {
        "title": f"Auth test drop {uuid.uuid4().hex[:8]}",
        "price_cents": 1500,
        "min_orders": 5,
        "deadline": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
    }


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


def test_refused_tokens_get_401_problems(
    stack: DevStack, api: httpx.Client, tmp_path: Path
) -> None:
    missing = api.post("/api/v1/campaigns", json=_draft())
    _assert_problem(missing, 401, "unauthorized")
    assert missing.headers["www-authenticate"].startswith("Bearer")

    garbage = api.post("/api/v1/campaigns", headers=_bearer("garbage"), json=_draft())
    _assert_problem(garbage, 401, "invalid_token")
    assert 'error="invalid_token"' in garbage.headers["www-authenticate"]

    foreign = mint_creator_token("creator-x", data_dir=tmp_path / "another-stack")
    signed_elsewhere = api.post("/api/v1/campaigns", headers=_bearer(foreign), json=_draft())
    _assert_problem(signed_elsewhere, 401, "invalid_token")

    expired = stack.mint_token("creator-x", ttl_s=-3600)
    too_late = api.post("/api/v1/campaigns", headers=_bearer(expired), json=_draft())
    _assert_problem(too_late, 401, "invalid_token")
    assert "expired" in too_late.json()["detail"]


def test_only_the_owner_may_publish(stack: DevStack, api: httpx.Client) -> None:
    owner = _bearer(stack.mint_token(f"owner-{uuid.uuid4().hex[:6]}"))
    created = api.post("/api/v1/campaigns", headers=owner, json=_draft())
    assert created.status_code == 201, created.text
    campaign = created.json()
    publish = f"/api/v1/campaigns/{campaign['id']}/publish"

    _assert_problem(api.post(publish), 401, "unauthorized")
    intruder = _bearer(stack.mint_token(f"intruder-{uuid.uuid4().hex[:6]}"))
    _assert_problem(api.post(publish, headers=intruder), 403, "not_owner")
    # Neither refusal changed anything: the draft is still the owner's to publish.
    published = api.post(publish, headers=owner)
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "active"
