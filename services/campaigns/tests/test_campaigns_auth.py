"""Creator token verification against a JWKS served over real HTTP by the test."""

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import httpx
import jwt
import pytest
from campaigns.auth import CreatorId, InvalidToken, IssuerUnavailable, TokenVerifier
from campaigns.settings import Settings
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from dropwave_runtime.problems import install_problem_handlers
from fastapi import FastAPI
from pydantic import ValidationError

ISSUER = "https://issuer.test/"
AUDIENCE = "dropwave-api"

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwk(key: Any, kid: str) -> dict[str, Any]:
    algo = jwt.algorithms.RSAAlgorithm if kid.startswith("rsa") else jwt.algorithms.ECAlgorithm
    data: dict[str, Any] = algo.to_jwk(key.public_key(), as_dict=True)
    return {**data, "kid": kid, "use": "sig"}


class JwksServer:
    """Serves ``self.jwks`` at /jwks.json (or ``self.status`` errors) and counts fetches."""

    def __init__(self) -> None:
        self.jwks: dict[str, Any] = {"keys": [_jwk(RSA_KEY, "rsa-1"), _jwk(EC_KEY, "ec-1")]}
        self.status = 200
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                body = json.dumps(outer.jwks).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    server = JwksServer()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def _settings(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": "postgresql+asyncpg://unused/unused",
        "kafka_bootstrap_servers": "127.0.0.1:9",
        "auth_jwks_url": url,
        "auth_issuer": ISSUER,
        "auth_audience": AUDIENCE,
        "auth_jwks_min_refresh_s": 0,
        **overrides,
    }
    return Settings(**values)


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "user_alice",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _rs256(kid: str = "rsa-1", key: Any = RSA_KEY, **claims: Any) -> str:
    return jwt.encode(_claims(**claims), key, algorithm="RS256", headers={"kid": kid})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


async def _rejected(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        await verifier.creator_id(token)
    return str(caught.value)


async def test_valid_rs256_and_es256_tokens_give_the_subject(jwks: JwksServer) -> None:
    verifier = TokenVerifier(_settings(jwks.url))
    assert jwks.fetches == 0  # lazy: nothing fetched before the first token
    assert await verifier.creator_id(_rs256()) == "user_alice"
    es = jwt.encode(_claims(sub="user_bob"), EC_KEY, algorithm="ES256", headers={"kid": "ec-1"})
    assert await verifier.creator_id(es) == "user_bob"
    assert jwks.fetches == 1  # cached


async def test_expiry_and_not_before_with_leeway(jwks: JwksServer) -> None:
    verifier = TokenVerifier(_settings(jwks.url, auth_leeway_s=30))
    now = int(time.time())
    assert await verifier.creator_id(_rs256(exp=now - 10)) == "user_alice"  # within leeway
    assert "expired" in await _rejected(verifier, _rs256(exp=now - 120))
    assert "not valid yet" in await _rejected(verifier, _rs256(nbf=now + 120))
    assert "required claim" in await _rejected(verifier, _rs256(exp=None))


async def test_wrong_issuer_or_audience_is_rejected(jwks: JwksServer) -> None:
    verifier = TokenVerifier(_settings(jwks.url))
    assert "issuer" in await _rejected(verifier, _rs256(iss="https://evil.test/"))
    assert "audience" in await _rejected(verifier, _rs256(aud="another-api"))
    assert "required claim" in await _rejected(verifier, _rs256(aud=None))


async def test_missing_or_empty_subject_is_rejected(jwks: JwksServer) -> None:
    verifier = TokenVerifier(_settings(jwks.url))
    assert "required claim" in await _rejected(verifier, _rs256(sub=None))
    assert "subject" in await _rejected(verifier, _rs256(sub=" "))
    assert "subject" in await _rejected(verifier, _rs256(sub="x" * 256))


async def test_unknown_kid_refetches_once_then_is_rejected(jwks: JwksServer) -> None:
    verifier = TokenVerifier(_settings(jwks.url, auth_jwks_min_refresh_s=60))
    assert await verifier.creator_id(_rs256()) == "user_alice"
    forged = _rs256(kid="rsa-unknown", key=OTHER_RSA_KEY)
    assert "key id" in await _rejected(verifier, forged)
    assert "key id" in await _rejected(verifier, forged)
    assert jwks.fetches == 1  # the refetch is rate-limited: forged kids cannot hammer the IdP


async def test_rotated_key_is_picked_up_by_a_refetch(jwks: JwksServer) -> None:
    verifier = TokenVerifier(_settings(jwks.url))
    assert await verifier.creator_id(_rs256()) == "user_alice"
    jwks.jwks = {"keys": [_jwk(OTHER_RSA_KEY, "rsa-2")]}
    assert await verifier.creator_id(_rs256(kid="rsa-2", key=OTHER_RSA_KEY)) == "user_alice"
    assert jwks.fetches == 2


async def test_known_kid_signed_by_another_key_is_rejected(jwks: JwksServer) -> None:
    verifier = TokenVerifier(_settings(jwks.url))
    assert "signature" in await _rejected(verifier, _rs256(kid="rsa-1", key=OTHER_RSA_KEY))


async def test_alg_none_and_hs256_key_confusion_are_rejected(jwks: JwksServer) -> None:
    verifier = TokenVerifier(_settings(jwks.url))
    none = _unsigned({"alg": "none", "kid": "rsa-1"}, _claims()) + "."
    assert "'none'" in await _rejected(verifier, none)
    # The classic confusion: HMAC over the token with the issuer's *public* key as secret.
    public_pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = _unsigned({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, _claims())
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    assert "'HS256'" in await _rejected(verifier, f"{signing_input}.{_b64(mac)}")
    # An allowed algorithm that does not fit the key the kid names (ES256 vs an RSA key).
    es = jwt.encode(_claims(), EC_KEY, algorithm="ES256", headers={"kid": "rsa-1"})
    assert "algorithm" in await _rejected(verifier, es)
    assert jwks.fetches == 1  # none/HS256 were refused before any key lookup


async def test_garbage_is_rejected_without_fetching(jwks: JwksServer) -> None:
    verifier = TokenVerifier(_settings(jwks.url))
    assert "well-formed" in await _rejected(verifier, "not-a-jwt")
    assert "too large" in await _rejected(verifier, "a" * 10_000)
    assert jwks.fetches == 0


async def test_unreachable_jwks_is_an_outage_not_a_bad_token(jwks: JwksServer) -> None:
    jwks.status = 500
    verifier = TokenVerifier(_settings(jwks.url, auth_jwks_min_refresh_s=60))
    with pytest.raises(IssuerUnavailable):
        await verifier.creator_id(_rs256())
    with pytest.raises(IssuerUnavailable):
        await verifier.creator_id(_rs256())
    assert jwks.fetches == 1  # backs off instead of retrying on every request


async def test_cached_keys_survive_a_provider_blip(jwks: JwksServer) -> None:
    verifier = TokenVerifier(_settings(jwks.url, auth_jwks_cache_s=0.01))
    assert await verifier.creator_id(_rs256()) == "user_alice"
    jwks.status = 503
    time.sleep(0.02)  # noqa: ASYNC251 - the cache's TTL, measured by a monotonic clock
    assert await verifier.creator_id(_rs256()) == "user_alice"
    assert jwks.fetches == 2


@pytest.fixture
def app(jwks: JwksServer) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.runtime = SimpleNamespace(settings=_settings(jwks.url))

    @app.get("/me")
    async def me(creator: CreatorId) -> dict[str, str]:
        return {"creator": creator}

    return app


async def _get(app: FastAPI, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get("/me", headers=headers)


async def test_http_401_problems_carry_a_bearer_challenge(app: FastAPI) -> None:
    missing = await _get(app)
    assert missing.status_code == 401
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["code"] == "unauthorized"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert "error=" not in missing.headers["www-authenticate"]

    basic = await _get(app, Authorization="Basic dXNlcjpwYXNz")
    assert basic.status_code == 401
    assert basic.json()["code"] == "unauthorized"

    garbage = await _get(app, Authorization="Bearer garbage")
    assert garbage.status_code == 401
    assert garbage.json()["code"] == "invalid_token"
    assert 'error="invalid_token"' in garbage.headers["www-authenticate"]
    assert "garbage" not in garbage.text

    ok = await _get(app, Authorization=f"Bearer {_rs256()}")
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"creator": "user_alice"}


async def test_http_503_when_the_jwks_cannot_be_fetched(app: FastAPI, jwks: JwksServer) -> None:
    jwks.status = 500
    down = await _get(app, Authorization=f"Bearer {_rs256()}")
    assert down.status_code == 503
    assert down.json()["code"] == "auth_unavailable"
    assert down.headers["retry-after"] == "5"


def test_settings_fail_fast_on_bad_auth_config(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "https://tenant.example/.well-known/jwks.json"
    assert _settings(url).auth_algorithms == ["RS256", "ES256"]
    bad: dict[str, Any]
    for bad in (
        {"auth_jwks_url": "http://tenant.example/jwks.json"},  # plain http off loopback
        {"auth_jwks_url": "file:///etc/jwks.json"},
        {"auth_algorithms": ["HS256"]},
        {"auth_algorithms": ["none"]},
        {"auth_algorithms": []},
        {"auth_issuer": ""},
        {"auth_leeway_s": -1},
    ):
        with pytest.raises(ValidationError):
            _settings(url, **bad)
    monkeypatch.delenv("AUTH_JWKS_URL", raising=False)
    with pytest.raises(ValidationError, match="auth_jwks_url"):
        Settings(
            database_url="postgresql+asyncpg://u/d",
            kafka_bootstrap_servers="k:9",
            auth_issuer=ISSUER,
            auth_audience=AUDIENCE,
        )
    monkeypatch.setenv("AUTH_ALGORITHMS", "RS256, ES256,RS256")
    monkeypatch.setenv("AUTH_JWKS_URL", "http://127.0.0.1:1/jwks.json")
    monkeypatch.setenv("AUTH_ISSUER", ISSUER)
    monkeypatch.setenv("AUTH_AUDIENCE", AUDIENCE)
    from_env = Settings(database_url="postgresql+asyncpg://u/d", kafka_bootstrap_servers="k:9")
    assert from_env.auth_algorithms == ["RS256", "ES256"]
    assert from_env.auth_jwks_url == "http://127.0.0.1:1/jwks.json"


async def test_the_email_claim_comes_with_the_subject_when_usable(jwks: JwksServer) -> None:
    verifier = TokenVerifier(_settings(jwks.url))
    with_email = await verifier.creator(_rs256(email="alice@shop.example", email_verified=True))
    assert (with_email.id, with_email.email) == ("user_alice", "alice@shop.example")
    assert "alice@shop.example" not in repr(with_email)  # reprs end up in logs
    assert (await verifier.creator(_rs256())).email is None  # no claim: still authenticated
    unverified = _rs256(email="alice@shop.example", email_verified=False)
    assert (await verifier.creator(unverified)).email is None
    for junk in ("not-an-address", "a@b", "Eve <eve@x.example>", "a@x.example, b@y.example"):
        assert (await verifier.creator(_rs256(email=junk))).email is None, junk
    assert (await verifier.creator(_rs256(email=["a@x.example"]))).email is None
    custom = TokenVerifier(_settings(jwks.url, auth_email_claim="primary_email"))
    token = _rs256(primary_email="alice@shop.example", email="other@shop.example")
    assert (await custom.creator(token)).email == "alice@shop.example"
