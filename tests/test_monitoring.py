"""The alert rules, their unit tests, the dashboard and the runbooks (deploy/monitoring/,
docs/runbooks/) hold together: promtool accepts and unit-tests the rules, every alert is
triaged and links a runbook that exists and names it, and every metric, event type and
route the rules and the dashboard query is one the code really produces."""

import importlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dropwave_contracts import EVENT_TYPES
from fastapi.routing import APIRoute

ROOT = Path(__file__).resolve().parents[1]
MONITORING = ROOT / "deploy" / "monitoring"
RUNBOOKS = ROOT / "docs" / "runbooks"
RUNBOOK_URL = "https://github.com/dropwave/dropwave/blob/main/docs/runbooks/"
SOURCES = [ROOT / "runtime" / "src", *sorted((ROOT / "services").glob("*/src"))]
OPERATIONS_ROUTES = {"/healthz", "/readyz", "/metrics"}
"""The runtime's own routes (defined inside ServiceRuntime, not in a routes module)."""

EXPECTED_ALERTS = {
    # the brief's thresholds
    "PaymentProcessingDown": "P0",
    "DatabaseDown": "P0",
    "HighServerErrorRate": "P0",
    "HighLatencyP95": "P1",
    "ErrorRateElevated": "P1",
    "CampaignCreationFailing": "P1",
    "ConversionDown": "P2",
    "DiskUsageHigh": "P2",
    # ours
    "DeadLettersArrived": "P1",
    "OutboxBacklogGrowing": "P1",
    "SettlementStuck": "P1",
    "ReleaseStuck": "P1",
    "PaymentSuccessRateLow": "P1",
    "ConsumerLagHigh": "P1",
}
DASHBOARD_PANELS = {
    "Orders placed",
    "Authorizations by outcome",
    "Captures and capture failures",
    "Payment success rate",
    "HTTP 5xx rate by route",
    "HTTP p95 latency by route",
    "Consumer lag by group",
    "Outbox pending",
    "Settlement queue depth",
    "Settlement queue oldest age",
    "Stripe requests by outcome",
    "Dead letters",
}
RUNBOOKS_REQUIRED = {
    "Payment_Processing_Down",
    "Database_Overload",
    "Viral_Campaign_Traffic_Spike",
    "Security_Breach",
    "DLQ_Replay",
    "Stuck_Settlement",
    "Secret_Rotation",
}
PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def _rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def _alerts() -> list[dict[str, Any]]:
    return [rule for rule in _rules() if "alert" in rule]


def _dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads((MONITORING / "dashboard.json").read_text())
    return dashboard


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row keeps its panels inside


def _dashboard_exprs() -> list[str]:
    """Every PromQL query of the dashboard, Grafana's interval variables made concrete."""
    exprs = [t["expr"] for p in _panels(_dashboard()) for t in p.get("targets", [])]
    return [re.sub(r"\$__(rate_)?interval", "5m", e) for e in exprs]


def _exprs() -> list[str]:
    return [rule["expr"] for rule in _rules()] + _dashboard_exprs()


def _registered_metrics() -> set[str]:
    """The names our code exposes: prometheus_client's Counter, Gauge, Histogram and Summary
    constructors in the runtime and the services, with the series each kind exposes."""
    pattern = re.compile(r"\b(Counter|Gauge|Histogram|Summary)\(\s*\"([a-zA-Z_:][\w:]*)\"")
    names: set[str] = set()
    for source in SOURCES:
        for path in source.rglob("*.py"):
            for kind, name in pattern.findall(path.read_text()):
                if kind == "Counter":
                    base = name.removesuffix("_total")
                    names |= {f"{base}_total", f"{base}_created"}
                elif kind in ("Histogram", "Summary"):
                    names |= {name, *(f"{name}_{s}" for s in ("bucket", "count", "sum", "created"))}
                else:
                    names.add(name)
    return names


def _metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: what is left once strings, label
    matchers, groupings, ranges, offsets, functions, keywords and numbers are removed."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\boffset\s+\w+", "", text)
    return {
        m.group(0)
        for m in re.finditer(r"[a-zA-Z_:][\w:]*(?!\w)(?!\s*\()", text)
        if m.group(0).lower() not in PROMQL_WORDS
    }


def _matcher_values(expr: str, label: str, *, regex: bool = True) -> set[str]:
    """The values a label is matched against: ``=``, and the alternatives of ``=~``
    (``regex=False``: ``=`` only)."""
    values: set[str] = set()
    for op, value in re.findall(rf'\b{label}\s*(=~|=)\s*"([^"]*)"', expr):
        if op == "=":
            values.add(value)
        elif regex:
            values |= set(value.split("|"))
    return values


def _api_routes() -> set[str]:
    """Every route template the services serve (what the HTTP metrics' ``route`` label
    holds), read from their routers."""
    paths = set(OPERATIONS_ROUTES)
    for src in sorted((ROOT / "services").glob("*/src")):
        for module in sorted(src.rglob("routes.py")):
            name = ".".join(module.relative_to(src).with_suffix("").parts)
            router = importlib.import_module(name).router
            paths |= {r.path for r in router.routes if isinstance(r, APIRoute)}
    return paths


def _installed(tool: str) -> str:
    """``tool`` from PATH or .tools/ (`make promtool` installs it; so does this)."""
    found = shutil.which(tool) or str(ROOT / ".tools" / "bin" / tool)
    if not Path(found).exists():
        if shutil.which("apt-get") is None:
            pytest.skip(f"{tool} is missing and cannot be installed here (no apt-get)")
        script = MONITORING / "install-tool.sh"
        subprocess.run(["bash", str(script), tool], check=True, timeout=300)
    return found


@pytest.fixture(scope="module")
def promtool() -> str:
    return _installed("promtool")


@pytest.fixture(scope="module")
def amtool() -> str:
    return _installed("amtool")


def _run(tool: str, *args: str, cwd: Path | None = None, timeout_s: float = 60) -> str:
    done = subprocess.run(
        [tool, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_alertmanager_routes_each_severity(amtool: str) -> None:
    """amtool accepts the routing config; P0 pages and opens a ticket, P1 pages (in working
    hours only) and opens a ticket, P2 is a ticket; every severity the rules use is routed."""
    config = MONITORING / "alertmanager.yaml"
    assert "SUCCESS" in _run(amtool, "check-config", str(config))

    def receivers(severity: str) -> list[str]:
        out = _run(
            amtool, "config", "routes", "test", f"--config.file={config}", f"severity={severity}"
        )
        return out.strip().split(",")

    assert receivers("P0") == ["pager", "ticket"]
    assert receivers("P1") == ["pager", "ticket"]
    assert receivers("P2") == ["ticket"]
    assert {rule["labels"]["severity"] for rule in _alerts()} == {"P0", "P1", "P2"}
    routes = yaml.safe_load(config.read_text())["route"]["routes"]
    paging = {
        r["matchers"][0]: r.get("active_time_intervals") for r in routes if r["receiver"] == "pager"
    }
    assert paging == {'severity="P0"': None, 'severity="P1"': ["working-hours"]}


def test_promtool_accepts_the_rules(promtool: str) -> None:
    out = _run(promtool, "check", "rules", str(MONITORING / "alerts.yaml"))
    assert f"SUCCESS: {len(_rules())} rules found" in out


@pytest.mark.timeout(300)
def test_alert_unit_tests_pass(promtool: str, tmp_path: Path) -> None:
    """alerts.test.yaml against the rules as they are, annotations aside (promtool would
    compare every annotation's whole text; they are checked below). promtool evaluates every
    rule each minute of each test's series (a day and more for the week-over-week ones):
    17 s on an idle 2-core box, over a minute beside the e2e tests (make test's xdist)."""
    doc = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "alerts.yaml").write_text(yaml.safe_dump(doc))
    shutil.copy(MONITORING / "alerts.test.yaml", tmp_path / "alerts.test.yaml")
    out = _run(promtool, "test", "rules", "alerts.test.yaml", cwd=tmp_path, timeout_s=240)
    assert "SUCCESS" in out


def test_every_alert_is_unit_tested_firing_and_silent() -> None:
    tests = yaml.safe_load((MONITORING / "alerts.test.yaml").read_text())["tests"]
    checks = [c for test in tests for c in test["alert_rule_test"]]
    fired = {c["alertname"] for c in checks if c.get("exp_alerts")}
    silent = {c["alertname"] for c in checks if not c.get("exp_alerts")}
    names = {a["alert"] for a in _alerts()}
    assert names - fired == set(), "alerts never shown to fire"
    assert names - silent == set(), "alerts never shown to stay silent"


def test_the_briefs_alerts_exist_with_their_severity() -> None:
    assert {a["alert"]: a["labels"]["severity"] for a in _alerts()} == EXPECTED_ALERTS


def test_every_alert_is_triaged_and_links_a_runbook_naming_it() -> None:
    for alert in _alerts():
        name = alert["alert"]
        assert alert["labels"]["severity"] in {"P0", "P1", "P2"}, name
        annotations = alert["annotations"]
        assert annotations["summary"].strip(), name
        assert len(annotations["description"]) > 80, name
        url = annotations["runbook_url"]
        assert url.startswith(RUNBOOK_URL), url
        runbook = ROOT / "docs" / "runbooks" / url.removeprefix(RUNBOOK_URL)
        assert runbook.suffix == ".md", url
        assert runbook.is_file(), url
        assert name in runbook.read_text(), f"{runbook.name} does not mention {name}"


def test_the_runbooks_exist_and_follow_one_shape() -> None:
    found = {p.stem for p in RUNBOOKS.glob("*.md")} - {"README"}
    assert found >= RUNBOOKS_REQUIRED
    index = (RUNBOOKS / "README.md").read_text()
    for stem in sorted(found):
        text = (RUNBOOKS / f"{stem}.md").read_text()
        assert f"({stem}.md)" in index, f"README.md does not list {stem}"
        for heading in ("## What it means", "## First checks", "## Mitigation", "## Escalation"):
            assert heading in text, f"{stem}.md lacks {heading!r}"


def test_runbooks_name_only_commands_that_exist() -> None:
    """`python -m <service> <command>` lines in the runbooks name subcommands the CLI has."""
    from campaigns.bootstrap import SERVICE as CAMPAIGNS
    from notifications.bootstrap import SERVICE as NOTIFICATIONS
    from orders.bootstrap import SERVICE as ORDERS
    from payments.bootstrap import SERVICE as PAYMENTS

    builtin = {"serve", "migrate", "dlq"}
    commands = {
        s.name: builtin | set(s.commands or {})
        for s in (CAMPAIGNS, ORDERS, PAYMENTS, NOTIFICATIONS)
    }
    seen = 0
    for runbook in RUNBOOKS.glob("*.md"):
        for service, command in re.findall(r"python -m (\w+) ([\w-]+)", runbook.read_text()):
            if service in commands:
                seen += 1
                assert command in commands[service], f"{runbook.name}: {service} {command}"
    assert seen > 10


def test_queries_use_only_metrics_the_code_registers() -> None:
    registered = _registered_metrics()
    assert {"dropwave_http_request_seconds_bucket", "dropwave_consumer_lag"} <= registered
    for expr in _exprs():
        names = _metric_names(expr)
        assert names, f"no metric found in {expr}"
        unknown = {n for n in names if n not in registered and not n.startswith("node_")}
        assert unknown <= {"up"}, f"{sorted(unknown)} in {expr}"


def test_metric_scanner_sees_through_promql() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (job, le) (rate(a_bucket{route=~"/x"}[5m])))'
        ' > 2 and on (job) (b_total offset 1d) unless vector(0) or up{job="x"} == bool 1'
    )
    assert _metric_names(expr) == {"a_bucket", "b_total", "up"}


def test_queries_name_real_event_types_and_routes() -> None:
    routes = _api_routes()
    assert "/api/v1/campaigns/{slug}/views" in routes
    for expr in _exprs():
        assert _matcher_values(expr, "event_type") <= set(EVENT_TYPES), expr
        assert _matcher_values(expr, "route", regex=False) <= routes, expr


def test_dashboard_queries_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    """Grafana has no promtool: the dashboard's queries, written as recording rules, are
    checked by `promtool check rules` instead."""
    exprs = _dashboard_exprs()
    rules = [{"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)]
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = _run(promtool, "check", "rules", str(path))
    assert f"SUCCESS: {len(exprs)} rules found" in out


def test_dashboard_is_importable_and_has_the_morning_panels() -> None:
    dashboard = _dashboard()
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    panels = [p for p in _panels(dashboard) if p["type"] != "row"]
    assert {p["title"] for p in panels} >= DASHBOARD_PANELS
    assert len({p["id"] for p in _panels(dashboard)}) == len(list(_panels(dashboard)))
    for panel in panels:
        assert panel["targets"], panel["title"]
        for source in [panel["datasource"], *(t["datasource"] for t in panel["targets"])]:
            assert source == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, panel["title"]
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
