"""A stand-in DropWave service for the DevStack tests.

``python -m devstack_fake_service migrate`` records the run; ``serve`` answers ``/readyz``
(200, or 503 forever when FAKE_NEVER_READY=1) and echoes its environment on every other path.
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ECHOED = (
    "DATABASE_URL",
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_SESSION_TIMEOUT_MS",
    "HTTP_HOST",
    "HTTP_PORT",
    "LOG_LEVEL",
    "STRIPE_SECRET_KEY",
    "STRIPE_API_BASE",
    "STRIPE_WEBHOOK_SECRET",
    "SMTP_HOST",
    "SMTP_PORT",
    "MAIL_FROM",
    "SERVICE_NAME",
    "EXTRA_FLAG",
    "PUBLIC_BASE_URL",
    "PAY_LATER_URL_TEMPLATE",
    "PAY_LINK_SECRET",
)


class Handler(BaseHTTPRequestHandler):
    def _reply(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/readyz":
            never = os.environ.get("FAKE_NEVER_READY") == "1"
            self._reply(503 if never else 200, {"ready": not never})
            return
        self._reply(
            200,
            {
                "path": self.path,
                "request_id": self.headers.get("X-Request-Id"),
                "env": {k: os.environ.get(k) for k in ECHOED},
            },
        )

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        print(format % args, flush=True)


def main() -> int:
    command = sys.argv[1]
    if command == "migrate":
        marker = Path.cwd() / f"migrated-{os.environ['SERVICE_NAME']}"
        marker.write_text(os.environ["DATABASE_URL"])
        print("migrated", flush=True)
        return 0
    if command == "serve":
        if os.environ.get("FAKE_CRASH") == os.environ.get("SERVICE_NAME"):
            print("boom: crashing on purpose", flush=True)
            return 3
        server = ThreadingHTTPServer(
            (os.environ["HTTP_HOST"], int(os.environ["HTTP_PORT"])), Handler
        )
        server.serve_forever()
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
