"""The service CLI: services register their own subcommands next to serve/migrate/dlq."""

import argparse
from pathlib import Path
from typing import Any

import pytest
from dropwave_runtime import cli
from dropwave_runtime.bootstrap import Service
from dropwave_runtime.cli import Command, run
from dropwave_runtime.settings import ServiceSettings
from fastapi import FastAPI


def _settings() -> ServiceSettings:
    return ServiceSettings(
        database_url="postgresql+asyncpg://x@h/db", kafka_bootstrap_servers="h:9"
    )


def _app(settings: ServiceSettings) -> FastAPI:
    raise AssertionError("a service command must not build the app")


def test_a_registered_command_runs_with_its_arguments_and_settings(tmp_path: Path) -> None:
    seen: list[tuple[str, int | None, str]] = []

    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("order_id")
        parser.add_argument("--amount-cents", type=int)

    def handle(args: argparse.Namespace, settings: ServiceSettings) -> int:
        seen.append((args.order_id, args.amount_cents, settings.kafka_bootstrap_servers))
        return 3

    commands = {"refund": Command("refund an order", configure, handle)}
    spec = Service("svc", "svc", _settings, tmp_path, commands=commands)
    with pytest.raises(SystemExit) as exit_info:
        run(spec, _app, ["refund", "o-1", "--amount-cents", "5"])
    assert exit_info.value.code == 3
    assert seen == [("o-1", 5, "h:9")]


def test_unknown_commands_are_still_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(Service("svc", "svc", _settings, tmp_path), _app, ["refund", "o-1"])
    assert exit_info.value.code == 2


CADDY_UPSTREAM_IDLE_S = 120
"""Caddy's reverse_proxy keeps an idle upstream connection 2 minutes unless told otherwise."""


def test_serve_keeps_idle_connections_longer_than_the_gateway_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvicorn closes an idle connection after 5 s by default while the gateway keeps its
    side 2 minutes: a request the gateway sends as uvicorn closes is a 502 to the client
    (seen in the 2,000-order e2e burst). The service must keep it open longer."""
    served: dict[str, Any] = {}
    monkeypatch.setattr(cli.uvicorn, "run", lambda app, **kw: served.update(kw))
    monkeypatch.setattr(cli, "tune_gc", lambda threshold: None)
    run(Service("svc", "svc", _settings, tmp_path), lambda s: FastAPI(), ["serve"])
    assert served["timeout_keep_alive"] == _settings().http_keep_alive_s
    assert served["timeout_keep_alive"] > CADDY_UPSTREAM_IDLE_S
    caddyfile = (Path(__file__).parents[2] / "deploy/gateway/Caddyfile").read_text()
    assert "keepalive " not in caddyfile  # no longer upstream idle time set there
