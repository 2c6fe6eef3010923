"""A tiny local stand-in for Twilio's Messages API, beside the SMTP sink: tests and the
benchmark point the real ``twilio`` SDK at it, so the SDK's own request path runs.

``POST /2010-04-01/Accounts/<sid>/Messages.json`` answers 201 with a message resource; the
``To`` numbers in ``failures`` answer an error like Twilio's (status, code). Requests must
carry HTTP basic auth with the account sid. Thread-based: start() / stop().
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-f]{32})/Messages\.json$")


class FakeTwilioApi:
    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[dict[str, str]] = []
        self.failures: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeTwilioApi:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None  # quiet: request lines would carry nothing useful

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                match = _PATH.match(self.path)
                if match is None or match["sid"] != fake.account_sid:
                    self._reply(404, {"status": 404, "code": 20404, "message": "Not found"})
                    return
                expected = base64.b64encode(
                    f"{fake.account_sid}:{fake.auth_token}".encode()
                ).decode()
                if self.headers.get("Authorization") != f"Basic {expected}":
                    self._reply(401, {"status": 401, "code": 20003, "message": "Authenticate"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                to = form.get("To", "")
                if to in fake.failures:
                    status, code = fake.failures[to]
                    self._reply(status, {"status": status, "code": code, "message": f"bad {to}"})
                    return
                sid = f"SM{uuid.uuid4().hex}"
                with fake._lock:
                    fake.messages.append({**form, "sid": sid})
                self._reply(
                    201,
                    {
                        "sid": sid,
                        "account_sid": fake.account_sid,
                        "to": to,
                        "from": form.get("From"),
                        "body": form.get("Body"),
                        "status": "queued",
                        "num_segments": "1",
                        "direction": "outbound-api",
                        "api_version": "2010-04-01",
                        "uri": f"/2010-04-01/Accounts/{fake.account_sid}/Messages/{sid}.json",
                    },
                )

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
