"""Browser fixtures for any test of the repo (a pytest plugin the root conftest loads).

- `browser` (session): headless Chromium (dropwave_devstack.browser: Debian's package, or
  CHROME_PATH) driven by Playwright. A missing browser FAILS the test: browser tests run in
  CI, they are never skipped.
- `page` (per test, in a fresh context) and `page_log`, what that page reported: console
  errors, uncaught exceptions, Content-Security-Policy violations, failed requests (network
  errors, CSP blocks, anything outside loopback) and answers with status >= 400. A test whose
  page reported any of them fails at teardown, unless the test took them (`page_log.take()`)
  to assert on them.

Mark browser tests `@pytest.mark.browser` (and `e2e` when they need the stack).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from dropwave_devstack.browser import BrowserMissing, chromium_flags, chromium_path
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    Request,
    Response,
    async_playwright,
)

# Reports `securitypolicyviolation` events to the test through a binding (both are
# installed through the DevTools protocol, outside the page's own CSP).
_CSP_BINDING = "__dropwaveCspViolation"
_CSP_LISTENER = f"""
document.addEventListener("securitypolicyviolation", (e) => {{
  window.{_CSP_BINDING}({{
    directive: e.effectiveDirective, blocked: e.blockedURI, line: e.lineNumber,
  }});
}});
"""


@dataclass
class CspViolation:
    directive: str
    blocked: str
    line: int


@dataclass
class PageLog:
    """What a page reported that a working page never does."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[CspViolation] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    error_responses: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("requestfailed", self._on_request_failed)
        page.on("response", self._on_response)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def _on_request_failed(self, request: Request) -> None:
        self.failed_requests.append(f"{request.method} {request.url}: {request.failure}")

    def _on_response(self, response: Response) -> None:
        if response.status >= 400:
            self.error_responses.append(f"{response.status} {response.url}")

    def on_csp_violation(self, _source: Any, report: dict[str, Any]) -> None:
        self.csp_violations.append(
            CspViolation(str(report["directive"]), str(report["blocked"]), int(report["line"]))
        )

    async def wait_for(self, reported: Callable[[PageLog], object], timeout_s: float = 5) -> None:
        """Wait (bounded) until `reported(self)` is truthy: reports come as events."""
        deadline = time.monotonic() + timeout_s
        while not reported(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"not reported within {timeout_s} s: {self.problems()}")
            await asyncio.sleep(0.025)

    def problems(self) -> list[str]:
        return [
            *(f"console error: {m}" for m in self.console_errors),
            *(f"uncaught: {m}" for m in self.page_errors),
            *(f"CSP violation: {v}" for v in self.csp_violations),
            *(f"request failed: {m}" for m in self.failed_requests),
            *(f"answer: {m}" for m in self.error_responses),
        ]

    def take(self) -> PageLog:
        """A copy of what was reported so far, which the teardown check then ignores."""
        taken = PageLog(
            list(self.console_errors),
            list(self.page_errors),
            list(self.csp_violations),
            list(self.failed_requests),
            list(self.error_responses),
        )
        for reported in (
            self.console_errors,
            self.page_errors,
            self.csp_violations,
            self.failed_requests,
            self.error_responses,
        ):
            reported.clear()
        return taken


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    try:
        executable = chromium_path()
    except BrowserMissing as e:
        missing = str(e)
    else:
        missing = ""
    if missing:
        pytest.fail(f"browser tests need Chromium: {missing}", pytrace=False)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=chromium_flags()
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def browser_context(browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context()
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        await context.close()


@dataclass
class _Opened:
    page: Page
    log: PageLog


@pytest.fixture
async def _opened_page(browser_context: BrowserContext) -> AsyncIterator[_Opened]:
    log = PageLog()
    await browser_context.expose_binding(_CSP_BINDING, log.on_csp_violation)
    await browser_context.add_init_script(_CSP_LISTENER)
    page = await browser_context.new_page()
    log.attach(page)
    yield _Opened(page, log)
    # Events still in flight (a console message sent as the test ended) come in first; a
    # page that is gone (closed, crashed) has reported all it will.
    with contextlib.suppress(Error):
        await page.evaluate("0")
    problems = log.problems()
    if problems:
        pytest.fail(
            "the page reported problems (page_log.take() to assert on expected ones):\n  "
            + "\n  ".join(problems),
            pytrace=False,
        )


@pytest.fixture
def page(_opened_page: _Opened) -> Page:
    return _opened_page.page


@pytest.fixture
def page_log(_opened_page: _Opened) -> PageLog:
    return _opened_page.log
