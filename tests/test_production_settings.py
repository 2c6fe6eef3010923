"""Production mode (DROPWAVE_ENV=production, the default outside the dev stack and the
tests) refuses unsafe settings at start-up, for every service, from one check in the runtime."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from dropwave_devstack.stack import DEV_SECRETS, DEV_STRIPE_SECRET_KEY, DEV_STRIPE_WEBHOOK_SECRET
from dropwave_runtime.settings import ServiceSettings, public_url_problem
from notifications.settings import Settings as NotificationsSettings
from orders.settings import Settings as OrdersSettings
from payments.settings import Settings as PaymentsSettings
from pydantic import ValidationError

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
SECRET = "k3Jx9vQ2pL7mN4rT8wZ1yB6cD5fG0hA2"  # 32 bytes, no placeholder marker
COMMON = {"database_url": "postgresql+asyncpg://db/x", "kafka_bootstrap_servers": "k:9092"}
AUTH = {
    "auth_jwks_url": "https://auth.dropwave.dev/.well-known/jwks.json",
    "auth_issuer": "https://auth.dropwave.dev",
    "auth_audience": "dropwave",
}
PUBLIC = "https://drops.dropwave.dev"


def orders(**kw: Any) -> OrdersSettings:
    values = {**COMMON, **AUTH, "order_token_secret": SECRET, **kw}
    return OrdersSettings(dropwave_env="production", **values)


def payments(**kw: Any) -> PaymentsSettings:
    values = {
        **COMMON,
        **AUTH,
        "pay_link_secret": SECRET,
        "stripe_secret_key": "sk_live_" + SECRET,
        "stripe_webhook_secret": "whsec_" + SECRET,
        "connect_refresh_url": f"{PUBLIC}/creators/payouts/refresh",
        "connect_return_url": f"{PUBLIC}/creators/payouts/done",
        **kw,
    }
    return PaymentsSettings(dropwave_env="production", **values)


def notifications(**kw: Any) -> NotificationsSettings:
    values = {
        **COMMON,
        "smtp_host": "smtp.dropwave.dev",
        "mail_from": "drops@dropwave.dev",
        "notifications_link_secret": SECRET,
        "public_base_url": PUBLIC,
        "pay_later_url_template": PUBLIC + "/pay/{order_id}?token={token}",
        **kw,
    }
    return NotificationsSettings(dropwave_env="production", **values)


def refused(build: Any, field: str, value: Any) -> str:
    with pytest.raises(ValidationError) as err:
        build(**{field: value})
    message = str(err.value)
    assert field.upper() in message
    return message


def test_safe_production_settings_start() -> None:
    orders()
    payments()
    notifications()


def test_the_default_is_production() -> None:
    assert ServiceSettings.model_fields["dropwave_env"].default == "production"


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (orders, "order_token_secret"),
        (payments, "pay_link_secret"),
        (payments, "stripe_webhook_secret"),
        (notifications, "notifications_link_secret"),
    ],
)
def test_short_or_dev_secrets_are_refused(build: Any, field: str) -> None:
    assert "shorter than 32 bytes" in refused(build, field, "s" * 31)
    assert "placeholder" in refused(
        build, field, DEV_SECRETS.get(field.upper(), "x" * 40 + "REPLACE-ME")
    )


def test_the_dev_stacks_stripe_values_are_refused() -> None:
    refused(payments, "stripe_secret_key", DEV_STRIPE_SECRET_KEY)
    refused(payments, "stripe_webhook_secret", DEV_STRIPE_WEBHOOK_SECRET)


def test_an_empty_order_token_secret_is_refused_even_in_dev() -> None:
    with pytest.raises(ValidationError):
        OrdersSettings(dropwave_env="dev", **COMMON, **AUTH, order_token_secret="")


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (notifications, "public_base_url"),
        (payments, "connect_refresh_url"),
        (payments, "connect_return_url"),
    ],
)
@pytest.mark.parametrize(
    "url",
    [
        "http://drops.dropwave.dev",
        "https://localhost:8080",
        "https://127.0.0.1/x",
        "https://10.0.0.7/x",
        "https://drops.REPLACE-ME.example",
        "https://gateway",
    ],
)
def test_http_local_or_placeholder_public_urls_are_refused(
    build: Any, field: str, url: str
) -> None:
    refused(build, field, url)


def test_the_pay_later_template_is_a_public_url_too() -> None:
    refused(notifications, "pay_later_url_template", "http://localhost:8080/pay/{order_id}")


def test_dev_mode_accepts_dev_values() -> None:
    OrdersSettings(
        dropwave_env="dev", **COMMON, **AUTH, order_token_secret=DEV_SECRETS["ORDER_TOKEN_SECRET"]
    )


def test_public_url_problem_accepts_public_https() -> None:
    assert public_url_problem("https://drops.dropwave.dev/x", "U") is None
    assert public_url_problem("https://8.8.8.8/x", "U") is None


def test_a_service_refuses_to_start_with_unsafe_settings() -> None:
    env = {
        **os.environ,
        "DROPWAVE_ENV": "production",
        "DATABASE_URL": "postgresql+asyncpg://127.0.0.1:1/none",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "ORDER_TOKEN_SECRET": "short-secret-16b",
        **{name.upper(): value for name, value in AUTH.items()},
    }
    out = subprocess.run(
        [sys.executable, "-m", "orders", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode != 0
    assert "ORDER_TOKEN_SECRET is shorter than 32 bytes" in out.stderr


def test_deployments_run_in_production_mode_with_placeholders_to_replace() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    for name in ("campaigns", "orders", "payments", "notifications"):
        env = compose["services"][name]["environment"]
        assert env["DROPWAVE_ENV"] == "${DROPWAVE_ENV:-production}"
    docs = list(yaml.safe_load_all((DEPLOY / "k8s" / "common.yaml").read_text()))
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    assert config["DROPWAVE_ENV"] == "production"
    # The placeholders as shipped are refused: nobody goes live on them by accident.
    with pytest.raises(ValidationError):
        notifications(
            public_base_url=config["PUBLIC_BASE_URL"],
            pay_later_url_template=config["PAY_LATER_URL_TEMPLATE"],
        )
    with pytest.raises(ValidationError):
        payments(connect_return_url=config["CONNECT_RETURN_URL"])


def test_the_dev_stack_runs_services_in_dev_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dropwave_devstack.stack import DevStack, ServiceSpec

    monkeypatch.setenv("DROPWAVE_ENV", "production")  # inherited by children, overridden
    stack = DevStack(tmp_path, environ={})
    env = stack.service_env(ServiceSpec("orders", "orders"), 1234)
    assert env["DROPWAVE_ENV"] == "dev"
