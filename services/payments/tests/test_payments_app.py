"""Wiring: the app builds without connecting, the CLI answers."""

import runpy
import sys

import pytest
from dropwave_contracts.events import OrderPlaced
from payments.bootstrap import bootstrap
from payments.settings import Settings
from pydantic import ValidationError


def settings(**overrides: str) -> Settings:
    values = {
        "database_url": "postgresql+asyncpg://nobody@127.0.0.1:9/none",
        "kafka_bootstrap_servers": "127.0.0.1:9",
        "stripe_secret_key": "sk_test_x",
        "stripe_webhook_secret": "whsec_x",
        "pay_link_secret": "pay-link-secret-0123456789",
        "auth_jwks_url": "http://127.0.0.1:9/jwks.json",
        "auth_issuer": "https://issuer.test/",
        "auth_audience": "dropwave-api",
    } | overrides
    return Settings.model_validate(values)


def test_app_builds_without_connecting() -> None:
    app = bootstrap(settings(stripe_api_base="http://127.0.0.1:9"))
    paths = set(app.openapi()["paths"])
    assert {"/api/v1/webhooks/stripe", "/healthz", "/readyz"} <= paths
    assert OrderPlaced in app.state.runtime._handlers


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://x@h/db")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "h:9092")
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_env")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_env")
    monkeypatch.setenv("PAY_LINK_SECRET", "pay-link-secret-from-env")
    monkeypatch.setenv("STRIPE_API_BASE", "http://127.0.0.1:8420")
    for name, value in (("URL", "http://127.0.0.1:9/j"), ("ISSUER", "i"), ("AUDIENCE", "a")):
        monkeypatch.setenv(f"AUTH_JWKS_{name}" if name == "URL" else f"AUTH_{name}", value)
    s = Settings()  # type: ignore[call-arg]
    assert s.stripe_secret_key.get_secret_value() == "sk_test_env"
    assert s.stripe_webhook_secret.get_secret_value() == "whsec_env"
    assert s.pay_link_secret.get_secret_value() == "pay-link-secret-from-env"
    assert "pay-link-secret-from-env" not in repr(s)
    assert s.stripe_api_base == "http://127.0.0.1:8420"
    assert s.stripe_max_network_retries == 2
    assert "sk_test_env" not in repr(s)


def test_pay_link_secret_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    """No default: a payments process without PAY_LINK_SECRET does not start."""
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://x@h/db")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "h:9092")
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_env")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_env")
    monkeypatch.delenv("PAY_LINK_SECRET", raising=False)
    for name, value in (("URL", "http://127.0.0.1:9/j"), ("ISSUER", "i"), ("AUDIENCE", "a")):
        monkeypatch.setenv(f"AUTH_JWKS_{name}" if name == "URL" else f"AUTH_{name}", value)
    with pytest.raises(ValidationError, match="pay_link_secret"):
        Settings()  # type: ignore[call-arg]


def test_cli_help(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m payments --help`, run in-process (runpy) to skip a 3 s interpreter start."""
    monkeypatch.setattr(sys, "argv", ["payments", "--help"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("payments", run_name="__main__")
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for verb in ("serve", "migrate", "dlq", "refund", "reconcile"):
        assert verb in out
