"""The dev stack's issuer and `make token` against the real verifier."""

import json
import stat
from pathlib import Path

import pytest
from campaigns.auth import InvalidToken, TokenVerifier
from campaigns.settings import Settings
from dropwave_devstack.issuer import (
    DEV_AUDIENCE,
    DEV_ISSUER,
    DevIssuer,
    DevSigningKey,
    signing_key_path,
)
from dropwave_devstack.tokens import mint_creator_token


async def test_dev_tokens_verify_against_the_served_jwks(tmp_path: Path) -> None:
    issuer = DevIssuer(tmp_path / "stack")
    issuer.start()
    try:
        settings = Settings(
            database_url="postgresql+asyncpg://unused/unused",
            kafka_bootstrap_servers="127.0.0.1:9",
            auth_jwks_url=issuer.jwks_url,
            auth_issuer=DEV_ISSUER,
            auth_audience=DEV_AUDIENCE,
        )
        verifier = TokenVerifier(settings)
        token = mint_creator_token("alice", data_dir=tmp_path / "stack")
        assert await verifier.creator_id(token) == "alice"
        # Dev tokens carry an email claim like Clerk's/Auth0's; it can be chosen or left out.
        assert (await verifier.creator(token)).email == "alice@creators.dropwave.test"
        chosen = mint_creator_token("alice", data_dir=tmp_path / "stack", email="al@shop.test")
        assert (await verifier.creator(chosen)).email == "al@shop.test"
        bare = mint_creator_token("alice", data_dir=tmp_path / "stack", email=None)
        assert (await verifier.creator(bare)).email is None
        odd = mint_creator_token("user_2x|github", data_dir=tmp_path / "stack")
        assert (await verifier.creator(odd)).email == "user_2x-github@creators.dropwave.test"
        # Signed by another stack's key: rejected.
        stranger = mint_creator_token("alice", data_dir=tmp_path / "other")
        with pytest.raises(InvalidToken):
            await verifier.creator_id(stranger)
    finally:
        issuer.stop()
    assert not issuer.running


def test_the_key_is_made_once_kept_private_and_published(tmp_path: Path) -> None:
    first = DevSigningKey.load_or_create(tmp_path)
    again = DevSigningKey.load_or_create(tmp_path)
    assert first.kid == again.kid
    path = signing_key_path(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    issuer = DevIssuer(tmp_path)
    issuer.start()
    issuer.stop()
    published = json.loads(path.with_name("jwks.json").read_text())
    assert published == first.jwks()
    assert "d" not in published["keys"][0]  # the public half only
