"""The browser harness against the embedded stack: a real Chromium reads a published campaign
through the gateway, with the gateway's security headers in force."""

import json

import httpx
import pytest
from dropwave_devstack.stack import DevStack
from playwright.async_api import Page

from tests.browser.harness import PageLog

from .conftest import publish_campaign

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(300)]


async def test_a_campaign_read_in_the_browser_through_the_gateway(
    stack: DevStack, api: httpx.Client, page: Page, page_log: PageLog
) -> None:
    campaign, _ = publish_campaign(stack, api, "browser-creator")

    response = await page.goto(f"{stack.base_url}/api/v1/campaigns/{campaign['slug']}")
    assert response is not None
    assert response.status == 200
    headers = await response.all_headers()
    assert headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert headers["x-content-type-options"] == "nosniff"
    body = json.loads(await response.text())
    assert body["slug"] == campaign["slug"]
    assert body["title"] == campaign["title"]
    assert page_log.problems() == []

    # The gateway's CSP covers every answer: a script on a page it serves may not even call
    # the API of its own origin (connect-src falls back to default-src 'none'). The
    # storefront's HTML needs a CSP of its own, and this test shows the harness sees it.
    outcome = await page.evaluate(
        "fetch(location.href).then((r) => 'fetched ' + r.status, (e) => 'refused: ' + e.name)"
    )
    assert outcome == "refused: TypeError"
    await page_log.wait_for(lambda log: log.csp_violations and log.console_errors)
    reported = page_log.take()
    assert [v.directive for v in reported.csp_violations] == ["connect-src"]
    assert any("Content Security Policy" in m for m in reported.console_errors)
