"""The deployment files stay valid and in step with the dev stack."""

import json
import subprocess
from pathlib import Path

import yaml
from dropwave_devstack.gateway import caddy_binary
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


def test_production_caddyfile_is_valid_and_routes_like_the_dev_stack() -> None:
    out = subprocess.run(
        [caddy_binary(), "adapt", "--config", str(DEPLOY / "gateway" / "Caddyfile")],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    config = json.loads(out.stdout)
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
