"""The deployment files stay valid, and the dev stack runs production's gateway."""

import argparse
import functools
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from dropwave_contracts.topics import TopicSpec, topic_for
from dropwave_devstack.gateway import (
    CADDYFILE,
    GatewayTimeouts,
    caddy_binary,
    caddyfile_upstreams,
    dev_environment,
)
from dropwave_devstack.stack import DEFAULT_SERVICES

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
ROUTES = {
    "/api/v1/campaigns*": "campaigns",
    "/api/v1/campaigns/*/orders": "orders",
    "/api/v1/campaigns/*/orders.csv": "orders",
    "/api/v1/orders/*": "orders",
    "/api/v1/webhooks/stripe*": "payments",
    "/api/v1/creators/me/payouts*": "payments",
    "/api/v1/creators/me/settings": "campaigns",
    "/api/v1/payments/*": "payments",
    "/api/v1/notifications/*": "notifications",
    "*": "storefront",  # every other path but /api/*: the buyers' pages
    **{  # the services' OpenAPI documents, side by side
        f"/api/docs/{name}.json": name
        for name in ("campaigns", "orders", "payments", "notifications", "storefront")
    },
}
BODY_LIMITS = {"/api/v1/campaigns*": 262144, "/api/v1/webhooks/stripe*": 1048576}
"""README "Limits": 64 KiB unless the route's service takes more."""
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


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


def _adapted(env: dict[str, str] | None = None) -> dict[str, Any]:
    """``caddy adapt`` of deploy/gateway/Caddyfile, with ``env`` as its only placeholders
    (none: the file's defaults, production's)."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GATEWAY_") and not k.endswith("_UPSTREAM")
    }
    out = subprocess.run(
        [caddy_binary(), "adapt", "--config", str(DEPLOY / "gateway" / "Caddyfile")],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
        env={**clean, **(env or {})},
    )
    config: dict[str, Any] = json.loads(out.stdout)
    return config


def _server(config: dict[str, Any]) -> dict[str, Any]:
    (server,) = config["apps"]["http"]["servers"].values()
    return server  # type: ignore[no-any-return]


def _matcher(route: dict[str, Any]) -> str:
    """A route's one path matcher; ``*`` for the catch-all (no matcher)."""
    if "match" not in route:
        return "*"
    (matcher,) = route["match"][0]["path"]
    return str(matcher)


def _dials(server: dict[str, Any]) -> dict[str, str]:
    """Path matcher -> the upstream its route proxies to."""
    proxied = [r for r in server["routes"] if "reverse_proxy" in json.dumps(r)]
    dials: dict[str, str] = {}
    for route in proxied:
        (dial,) = _find(route, "dial")
        dials[_matcher(route)] = dial
    return dials


def _hsts_conditions(node: object) -> set[str]:
    """The expressions of the matchers (named ``hsts_*``) that decide on HSTS."""
    expressions = [m.get("expression") for ms in _find(node, "match") for m in ms]
    return {
        e["expr"]
        for e in expressions
        if isinstance(e, dict) and e.get("name", "").startswith("hsts")
    }


def test_the_dev_stack_runs_the_production_caddyfile() -> None:
    """No second gateway config: the dev stack starts Caddy with deploy/gateway/Caddyfile,
    and its services fill the file's upstreams."""
    assert CADDYFILE == DEPLOY / "gateway" / "Caddyfile"
    assert sorted(spec.gateway_upstream for spec in DEFAULT_SERVICES) == caddyfile_upstreams()


def test_production_caddyfile_routes_to_the_k8s_services_by_default() -> None:
    server = _server(_adapted())
    assert _dials(server) == {path: f"{service}:8000" for path, service in ROUTES.items()}
    assert _paths(server) == set(ROUTES) - {"*"} | {"/healthz", "/api/docs", "/api/*"}
    assert server["listen"] == [":8080"]
    assert server["trusted_proxies"]["ranges"] == ["127.0.0.1/32"]
    k8s_services = {
        doc["metadata"]["name"]: doc["spec"]["ports"][0]["port"]
        for doc in _rendered_k8s()
        if doc["kind"] == "Service"
    }
    for dial in set(_dials(server).values()):
        name, port = dial.split(":")
        assert k8s_services[name] == int(port), dial


def test_production_caddyfile_takes_its_upstreams_and_edge_from_the_environment() -> None:
    env = {
        f"{name.upper()}_UPSTREAM": f"{name}.dropwave.svc.cluster.local:8000"
        for name in caddyfile_upstreams()
    }
    env |= {"GATEWAY_PORT": "9090", "GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8"}
    server = _server(_adapted(env))
    assert _dials(server) == {
        path: f"{service}.dropwave.svc.cluster.local:8000" for path, service in ROUTES.items()
    }
    assert server["listen"] == [":9090"]
    assert server["trusted_proxies"]["ranges"] == ["10.0.0.0/8"]


def test_production_caddyfile_with_the_dev_stacks_environment() -> None:
    """What the dev stack sets: 127.0.0.1 only, no proxy trusted, no HSTS, warnings only."""
    upstreams = {name: f"127.0.0.1:{n}" for n, name in enumerate(caddyfile_upstreams(), 1)}
    config = _adapted(dev_environment("127.0.0.1", 4321, upstreams, GatewayTimeouts()))
    server = _server(config)
    assert server["listen"] == ["127.0.0.1:4321"]
    assert "ranges" not in server["trusted_proxies"]
    assert set(_dials(server).values()) == set(upstreams.values())
    assert config["logging"]["logs"]["default"]["level"] == "WARN"
    assert _hsts_conditions(server) == {"false"}


def test_production_caddyfile_balances_an_upstream_of_several_addresses() -> None:
    """The dev stack's scaled services: an upstream placeholder holding space-separated
    addresses is one reverse_proxy over all of them."""
    upstreams = {name: f"127.0.0.1:{n}01" for n, name in enumerate(caddyfile_upstreams(), 1)}
    upstreams["payments"] = "127.0.0.1:7001 127.0.0.1:7002 127.0.0.1:7003"
    server = _server(_adapted(dev_environment("127.0.0.1", 4321, upstreams, GatewayTimeouts())))
    proxied = [r for r in server["routes"] if "reverse_proxy" in json.dumps(r)]
    assert any(ROUTES.get(_matcher(route)) == "payments" for route in proxied)
    for route in proxied:
        dials = _find(route, "dial")
        if ROUTES.get(_matcher(route)) == "payments":
            assert dials == ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"]
        else:
            assert len(dials) == 1


def test_production_gateway_limits_and_headers() -> None:
    """Body limits per route, client timeouts (the dev stack's defaults) and security
    headers, plus HSTS (on unless GATEWAY_HSTS=false)."""
    server = _server(_adapted())
    proxied = [r for r in server["routes"] if "reverse_proxy" in json.dumps(r)]
    for route in proxied:
        matcher = _matcher(route)
        assert _find(route, "max_size") == [BODY_LIMITS.get(matcher, 65536)], matcher
    # Every route but those answered here (/healthz, /api/docs, the API's JSON 404 /api/*),
    # and the pages' catch-all.
    assert len(proxied) == len(_paths(server)) - 3 + 1
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
        assert _hsts_conditions(where) == {"true"}
    assert "payload_too_large" in json.dumps(server["errors"])


SERVICES = ("campaigns", "orders", "payments", "notifications", "storefront")


@functools.cache
def _rendered_k8s() -> list[dict[str, Any]]:
    """``kubectl kustomize deploy`` (kustomize v5, built into kubectl): what
    ``kubectl apply -k deploy`` applies."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    out = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY)], capture_output=True, text=True, check=True, timeout=60
    )
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def test_compose_and_k8s_manifests_parse() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    for name in (*SERVICES, "redpanda", "postgres"):
        assert name in compose["services"]
    kinds = [doc["kind"] for doc in _rendered_k8s()]
    assert kinds.count("Deployment") == 11  # api and worker of five services + the gateway
    assert kinds.count("HorizontalPodAutoscaler") == kinds.count("ScaledObject") == 5
    assert kinds.count("PodDisruptionBudget") == 10
    assert kinds.count("Job") == 6  # a migration per service + topics
    assert all(doc["metadata"]["namespace"] == "dropwave" for doc in _rendered_k8s())
    assert "SERVICE" not in yaml.safe_dump_all(_rendered_k8s())  # every placeholder filled
    assert kinds.count("ConfigMap") == 2  # dropwave-common, the Caddyfile; no name carrier


def _consumed_topics(service: str) -> list[TopicSpec]:
    """The topics ``service`` consumes: those of the events its bootstrap handles."""
    import importlib

    spec = importlib.import_module(f"{service}.bootstrap").SERVICE
    return sorted({topic_for(cls) for cls in spec.events}, key=lambda t: t.name)


@pytest.mark.parametrize("name", SERVICES)
def test_each_k8s_service_is_the_base_under_its_name(name: str) -> None:
    """k8s/<service>/ is k8s/service-base named: an api Deployment behind the Service with
    a CPU HPA, a worker Deployment scaled by KEDA on its consumer group's lag (one trigger
    per consumed topic, capped at their partitions), a PodDisruptionBudget each, and the
    migration Job, with the service's name, image, Secret and labels."""
    objects = {(d["kind"], d["metadata"]["name"]): d for d in _rendered_k8s()}
    common = objects["ConfigMap", "dropwave-common"]["data"]
    env_from = [
        {"configMapRef": {"name": "dropwave-common"}},
        {"secretRef": {"name": f"dropwave-{name}", "optional": True}},
    ]
    for role, deployment_name in (("api", name), ("worker", f"{name}-worker")):
        label = {"app.kubernetes.io/name": name, "app.kubernetes.io/component": role}
        deployment = objects["Deployment", deployment_name]
        assert deployment["metadata"]["labels"] == label
        assert deployment["spec"]["selector"]["matchLabels"] == label
        assert "replicas" not in deployment["spec"]  # the HPA / KEDA own the count
        pod = deployment["spec"]["template"]
        assert pod["metadata"]["labels"] == label
        (container,) = pod["spec"]["containers"]
        assert container["name"] == deployment_name
        assert container["image"] == f"dropwave-{name}"
        assert container["args"] == ["serve", "--role", role]
        assert container["envFrom"] == env_from
        assert container["ports"] == [{"name": "http", "containerPort": 8000}]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        budget = objects["PodDisruptionBudget", deployment_name]
        assert budget["spec"] == {"minAvailable": 1, "selector": {"matchLabels": label}}
    assert ("Service", f"{name}-worker") not in objects
    service = objects["Service", name]
    assert service["spec"]["selector"] == {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": "api",
    }
    assert service["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": "http"}]

    hpa = objects["HorizontalPodAutoscaler", name]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    assert hpa["minReplicas"] == 2 <= hpa["maxReplicas"]
    (metric,) = hpa["metrics"]
    assert metric["type"] == "Resource"
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"

    scaled = objects["ScaledObject", f"{name}-worker"]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"] == {"name": f"{name}-worker"}
    topics = _consumed_topics(name)
    # KEDA caps each trigger at its topic's partitions; more workers would sit idle.
    assert spec["maxReplicaCount"] == max(t.partitions for t in topics)
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]  # relay and jobs run there
    assert [t["type"] for t in spec["triggers"]] == ["kafka"] * len(topics)
    assert sorted(t["metadata"]["topic"] for t in spec["triggers"]) == [t.name for t in topics]
    for trigger in spec["triggers"]:
        meta = trigger["metadata"]
        assert meta["bootstrapServers"] == common["KAFKA_BOOTSTRAP_SERVERS"]
        assert meta["consumerGroup"] == name  # runtime service.py: group_id=service
        assert int(meta["lagThreshold"]) > 0
        assert meta["allowIdleConsumers"] == "false"
        assert all(isinstance(v, str) for v in meta.values())  # KEDA's metadata: strings

    job = objects["Job", f"{name}-migrate"]
    assert job["metadata"]["labels"] == {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": "migrate",
    }
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert (migrate["image"], migrate["args"]) == (f"dropwave-{name}", ["migrate"])
    assert migrate["envFrom"] == env_from


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


def _image_default(instruction: str) -> list[str]:
    """The Dockerfile's ENTRYPOINT or CMD (exec form)."""
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if line.startswith(f"{instruction} "):
            value: list[str] = json.loads(line.removeprefix(f"{instruction} "))
            return value
    raise AssertionError(f"Dockerfile has no {instruction}")


def _service_argv(entrypoint: list[str], command: list[str]) -> list[str]:
    """What ``python -m $SERVICE`` receives when Docker runs ``entrypoint + command``: the
    image's entrypoint is ``sh -c 'exec python -m "$SERVICE" "$@"' --``, so the arguments
    are exactly the command's; any other entrypoint is not the service CLI."""
    argv = [*entrypoint, *command]
    script = 'exec python -m "$SERVICE" "$@"'
    assert argv[:4] == ["sh", "-c", script, "--"], f"not the service CLI: {argv}"
    return argv[4:]


def _check_cli(service: str, args: list[str]) -> argparse.Namespace:
    """Parse ``args`` with the service's real CLI parser (nothing runs)."""
    import importlib

    from dropwave_runtime.cli import parser_of

    spec = importlib.import_module(f"{service}.bootstrap").SERVICE
    try:
        return parser_of(spec).parse_args(args)
    except SystemExit as exc:
        raise AssertionError(f"python -m {service} {' '.join(args)}: refused") from exc


def test_compose_runs_each_service_and_its_migration_through_the_cli() -> None:
    """Docker appends a service's ``command`` to the image's ENTRYPOINT; each must be a
    command line the service's CLI accepts, and every service waits for its migration.
    As on Kubernetes, each service runs as api (``<service>``, the gateway's upstream) and as
    worker (``<service>-worker``): the role the parser reads, not a string."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    entrypoint, default = _image_default("ENTRYPOINT"), _image_default("CMD")
    seen: dict[str, tuple[str, str | None]] = {}
    for name, svc in compose.items():
        build = svc.get("build") or {}
        if "entrypoint" in svc or build.get("dockerfile") != "deploy/Dockerfile":
            continue  # not a service CLI (the topics job has its own entrypoint)
        service = build["args"]["SERVICE"]
        args = _check_cli(service, _service_argv(entrypoint, svc.get("command", default)))
        seen[name] = (args.command, getattr(args, "role", None))
    assert set(seen) == {
        f"{name}{suffix}" for name in SERVICES for suffix in ("", "-worker", "-migrate")
    }
    for name in SERVICES:
        assert seen[name] == ("serve", "api")
        assert seen[f"{name}-worker"] == ("serve", "worker")
        assert seen[f"{name}-migrate"] == ("migrate", None)
        for process in (name, f"{name}-worker"):
            waits = compose[process]["depends_on"]
            assert waits[f"{name}-migrate"] == {"condition": "service_completed_successfully"}
            assert compose[process]["environment"] == compose[name]["environment"]
        assert compose[f"{name}-migrate"]["restart"] == "no"
        assert compose[f"{name}-migrate"]["environment"] == compose[name]["environment"]


def test_k8s_runs_each_service_and_its_migration_through_the_cli() -> None:
    """Every container's command line is one its service's CLI takes; each service's two
    Deployments serve as api and as worker (the role the parser reads, not a string)."""
    entrypoint, default = _image_default("ENTRYPOINT"), _image_default("CMD")
    roles: dict[str, str] = {}
    for doc in _rendered_k8s():
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            service = container["image"].removeprefix("dropwave-").split(":")[0]
            if service not in SERVICES or "command" in container:
                continue  # the gateway; the topics job (its own command)
            args = _check_cli(service, _service_argv(entrypoint, container.get("args", default)))
            if doc["kind"] == "Deployment":
                roles[doc["metadata"]["name"]] = args.role
    assert roles == {
        **dict.fromkeys(SERVICES, "api"),
        **{f"{name}-worker": "worker" for name in SERVICES},
    }


def test_k8s_manifests_are_valid_against_the_kubernetes_schemas() -> None:
    """Every rendered object against the API schemas of a recent Kubernetes (the
    kubernetes-validate package's bundled OpenAPI schemas; strict: no unknown fields)."""
    import kubernetes_validate

    version = "1.31.0"  # a release current clusters run; the manifests use only stable APIs
    checked = set()
    for doc in _rendered_k8s():
        if doc["apiVersion"] in CUSTOM_RESOURCES:
            continue  # no schema in Kubernetes' own: see test_custom_resources_have_their_shape
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{doc['kind']} {doc['metadata']['name']}: {exc.message}") from exc
        checked.add(doc["kind"])
    assert {
        "Deployment",
        "Service",
        "Job",
        "ConfigMap",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    } <= checked


CUSTOM_RESOURCES = {"keda.sh/v1alpha1": {"ScaledObject"}}
"""API groups the cluster gets from an operator (KEDA), outside Kubernetes' schemas."""


def test_custom_resources_have_their_shape() -> None:
    """The ScaledObjects, which kubernetes-validate cannot check, in the shape KEDA's CRD
    (v2) takes: only its fields, a Deployment of ours as target, kafka triggers whose
    metadata are all strings."""
    deployments = {d["metadata"]["name"] for d in _rendered_k8s() if d["kind"] == "Deployment"}
    custom = [d for d in _rendered_k8s() if d["apiVersion"] in CUSTOM_RESOURCES]
    assert {d["kind"] for d in custom} == {"ScaledObject"}
    for doc in custom:
        assert set(doc) == {"apiVersion", "kind", "metadata", "spec"}
        assert set(doc["metadata"]) <= {"name", "namespace", "labels", "annotations"}
        spec = doc["spec"]
        assert set(spec) <= {
            "scaleTargetRef",
            "minReplicaCount",
            "maxReplicaCount",
            "pollingInterval",
            "cooldownPeriod",
            "idleReplicaCount",
            "advanced",
            "fallback",
            "triggers",
        }
        assert set(spec["scaleTargetRef"]) <= {
            "name",
            "kind",
            "apiVersion",
            "envSourceContainerName",
        }
        assert spec["scaleTargetRef"]["name"] in deployments
        for key in ("minReplicaCount", "maxReplicaCount", "pollingInterval"):
            assert isinstance(spec[key], int), key
        for trigger in spec["triggers"]:
            assert set(trigger) <= {"type", "metadata", "name", "authenticationRef"}
            assert trigger["type"] == "kafka"
            assert all(isinstance(v, str) for v in trigger["metadata"].values())
            assert {"bootstrapServers", "consumerGroup", "topic"} <= set(trigger["metadata"])


def test_the_secret_templates_hold_what_each_service_requires() -> None:
    """deploy/k8s/secrets.example.yaml names, per service, every setting that has no default
    and is not shared (dropwave-common); each value is a placeholder production refuses
    until it is replaced."""
    import importlib

    import kubernetes_validate

    docs = list(yaml.safe_load_all((DEPLOY / "k8s" / "secrets.example.yaml").read_text()))
    templates = {d["metadata"]["name"].removeprefix("dropwave-"): d for d in docs}
    assert set(templates) == set(SERVICES)
    common = next(d for d in _rendered_k8s() if d["metadata"]["name"] == "dropwave-common")
    for name, secret in templates.items():
        kubernetes_validate.validate(secret, "1.31.0", strict=True)
        settings = importlib.import_module(f"{name}.settings").Settings
        required = {
            field.upper()
            for field, info in settings.model_fields.items()
            if info.is_required() and field.upper() not in common["data"]
        }
        given = set(secret["stringData"])
        assert required <= given, (name, required - given)
        assert all("REPLACE-ME" in value for value in secret["stringData"].values()), name


def test_the_ingress_hands_every_path_to_the_gateway() -> None:
    objects = {(d["kind"], d["metadata"]["name"]): d for d in _rendered_k8s()}
    (rule,) = objects["Ingress", "dropwave"]["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/", "Prefix")
    assert path["backend"]["service"] == {"name": "gateway", "port": {"name": "http"}}
    env = objects["Deployment", "gateway"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert "GATEWAY_TRUSTED_PROXIES" in {e["name"] for e in env}
