"""The browser harness itself, on pages a tiny server on 127.0.0.1 serves: pages run their
scripts, and what a broken page reports (console errors, exceptions, CSP blocks, failed
requests, 4xx answers) reaches the test."""

from collections.abc import Iterator

import pytest
from dropwave_devstack.browser import (
    SAMPLE_PAGES,
    BrowserMissing,
    Page,
    StaticSite,
    chromium_path,
)
from playwright.async_api import Page as BrowserPage

from .harness import PageLog

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]

NONCE = "rAnd0mN0nce"
STRICT_CSP = f"default-src 'none'; script-src 'nonce-{NONCE}'; connect-src 'self'"
OPEN_CSP = f"default-src 'none'; script-src 'nonce-{NONCE}'; connect-src *"

CSP_PAGE = f"""<!doctype html><html lang="en"><head><title>csp</title></head><body>
<p id="out">not run</p>
<script nonce="{NONCE}">document.getElementById("out").textContent = "nonce ran";</script>
<script>document.title = "inline ran";</script>
</body></html>"""

BROKEN_PAGE = f"""<!doctype html><html lang="en"><head><title>broken</title></head><body>
<script nonce="{NONCE}">
  console.error("boom in the console");
  fetch("/missing.json");
  fetch("http://dropwave.invalid/outside").catch(() => {{}});
  setTimeout(() => {{ throw new Error("uncaught boom"); }}, 0);
</script>
</body></html>"""


@pytest.fixture(scope="module")
def site() -> Iterator[StaticSite]:
    pages = {
        **SAMPLE_PAGES,
        "/csp": Page(CSP_PAGE, headers={"Content-Security-Policy": STRICT_CSP}),
        "/broken": Page(BROKEN_PAGE, headers={"Content-Security-Policy": OPEN_CSP}),
    }
    with StaticSite(pages).running() as running:
        yield running


async def test_a_clean_page_reports_nothing(
    page: BrowserPage, page_log: PageLog, site: StaticSite
) -> None:
    response = await page.goto(site.url("/"))
    assert response is not None
    assert response.status == 200
    assert await page.title() == "Walnut desk organiser: a DropWave drop"
    assert await page.get_by_role("heading", level=1).inner_text() == "Walnut desk organiser"
    # The stylesheet loaded (the strict CSP allows 'self' styles).
    margin = await page.evaluate("getComputedStyle(document.body).marginTop")
    assert margin == "32px"
    assert page_log.problems() == []


async def test_csp_blocks_an_inline_script_and_the_harness_reports_it(
    page: BrowserPage, page_log: PageLog, site: StaticSite
) -> None:
    await page.goto(site.url("/csp"))
    # The nonce'd script ran; the inline one without the nonce was blocked.
    await page.wait_for_function("document.getElementById('out').textContent === 'nonce ran'")
    assert await page.title() == "csp"
    await page_log.wait_for(lambda log: log.csp_violations and log.console_errors)

    reported = page_log.take()
    assert [v.directive for v in reported.csp_violations] == ["script-src-elem"]
    assert reported.csp_violations[0].blocked == "inline"
    assert len(reported.console_errors) == 1
    assert "Content Security Policy" in reported.console_errors[0]
    assert "script-src" in reported.console_errors[0]
    assert page_log.problems() == []  # taken: the teardown check passes


async def test_errors_failed_requests_and_4xx_are_collected(
    page: BrowserPage, page_log: PageLog, site: StaticSite
) -> None:
    await page.goto(site.url("/broken"))
    await page_log.wait_for(
        lambda log: log.page_errors and log.failed_requests and log.error_responses
    )

    reported = page_log.take()
    assert "boom in the console" in reported.console_errors
    assert any("uncaught boom" in e for e in reported.page_errors)
    assert reported.error_responses == [f"404 {site.url('/missing.json')}"]
    # Nothing leaves the machine: outside hosts hit the closed proxy on loopback.
    assert len(reported.failed_requests) == 1
    assert "http://dropwave.invalid/outside" in reported.failed_requests[0]
    assert "ERR_PROXY_CONNECTION_FAILED" in reported.failed_requests[0]


def test_a_missing_browser_is_an_error_saying_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHROME_PATH", "/nonexistent/chromium")
    with pytest.raises(BrowserMissing, match="CHROME_PATH"):
        chromium_path()
    monkeypatch.delenv("CHROME_PATH")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BrowserMissing, match="make browser"):
        chromium_path()
