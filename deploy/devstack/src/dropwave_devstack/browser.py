"""Headless Chromium for the browser tests and Lighthouse (ADR 0012).

The browser is Debian's `chromium` package, installed by `make browser` (`make test` runs it);
`CHROME_PATH` points at another build (the variable Lighthouse's launcher reads too). Nothing
here downloads a browser: a missing one is an error that says how to install it.

`chromium_flags()` are the flags every launch uses, Playwright's and Lighthouse's alike: no
background traffic of Chromium's own, and every request to anything but loopback sent to a
closed proxy port on 127.0.0.1, so a page that reaches outside fails in the test instead of
leaving the machine. `StaticSite` serves a few fixed pages on 127.0.0.1 (the harness's own
tests and `make lighthouse`'s sample page).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHROME_PATH_ENV = "CHROME_PATH"
_NAMES = ("chromium", "chromium-browser")


class BrowserMissing(RuntimeError):
    """No Chromium to run: the message says how to install one."""


def chromium_path() -> str:
    """The Chromium executable: `CHROME_PATH` if set, else `chromium` on PATH."""
    configured = os.environ.get(CHROME_PATH_ENV)
    if configured:
        if shutil.which(configured) is None:
            raise BrowserMissing(f"{CHROME_PATH_ENV}={configured} is not an executable")
        return configured
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserMissing(
        "no Chromium found (chromium on PATH, or CHROME_PATH): `make browser` installs "
        "Debian's chromium package (make test does it first)"
    )


def chromium_flags() -> list[str]:
    """Flags for every headless launch (the caller adds headless mode itself)."""
    flags = [
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-gpu",
        # Loopback (127.0.0.0/8, localhost, [::1]) bypasses a proxy implicitly; everything
        # else goes to port 9 on 127.0.0.1, where nothing listens: it fails, logged as a
        # failed request (net::ERR_PROXY_CONNECTION_FAILED), and never leaves the machine.
        "--proxy-server=http://127.0.0.1:9",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Chromium's sandbox refuses to start as root ("Running as root without
        # --no-sandbox is not supported"); CI and these machines run as root. The pages
        # are our own, on loopback only.
        flags.append("--no-sandbox")
    return flags


@dataclass(frozen=True)
class Page:
    body: str
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


class StaticSite:
    """A few fixed pages on a free port of 127.0.0.1; any other path is a 404."""

    def __init__(self, pages: Mapping[str, Page]) -> None:
        self.pages = dict(pages)
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                page = site.pages.get(self.path.split("?", 1)[0])
                if page is None:
                    page = Page("not found", "text/plain; charset=utf-8", 404)
                body = page.body.encode()
                self.send_response(page.status)
                self.send_header("Content-Type", page.content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in page.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the tests assert on what the browser saw

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    @contextmanager
    def running(self) -> Iterator[StaticSite]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=5)


# A small page as the storefront's should be: accessible, described, no inline script (a
# strict CSP), an icon so no request 404s. `make lighthouse` without URL scores it.
# connect-src 'self': Lighthouse fetches /robots.txt from inside the page, so a CSP without
# it costs the SEO score (GoogleChrome/lighthouse#4386); the storefront's fetch and live
# updates need it anyway.
SAMPLE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SAMPLE_PAGES = {
    "/": Page(
        """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Walnut desk organiser: a DropWave drop</title>
<meta name="description" content="Join the drop: 3 of 5 buyers so far.">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/site.css">
</head>
<body>
<main>
<h1>Walnut desk organiser</h1>
<p>3 of 5 joined. Your card is only authorized now, and charged only if the drop reaches
its minimum by the deadline.</p>
<p><a href="/">How drops work</a></p>
</main>
</body>
</html>
""",
        headers={"Content-Security-Policy": SAMPLE_CSP, "X-Content-Type-Options": "nosniff"},
    ),
    "/site.css": Page(
        "body{font:1rem/1.5 system-ui,sans-serif;margin:2rem;color:#1a1a1a;background:#fff}"
        "a{color:#0b57d0}\n",
        "text/css; charset=utf-8",
    ),
    "/robots.txt": Page("User-agent: *\nAllow: /\n", "text/plain; charset=utf-8"),
}
