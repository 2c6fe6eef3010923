"""The order page in a real Chromium, through the gateway: a buyer checks out, reaches
"You're buyer #N", opens the order page from the link in the confirmation mail (in the SMTP
sink), sees the order, and cancels it. The order token travels only in the link's fragment
and the X-Order-Token header: it is in no service's log nor the gateway's, and the page takes
it out of the address bar."""

import asyncio
import re
import uuid

import httpx
import pytest
from dropwave_devstack.stack import DevStack
from playwright.async_api import Page, expect

from tests.browser.harness import PageLog

from .conftest import _eventually
from .test_browser_checkout import VISA, WAIT_MS, join, open_drop, orders_of

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(240)]


def order_link(stack: DevStack, address: str) -> str | None:
    """The order page's link in the confirmation mail to ``address``, once it arrived."""
    assert stack.smtp is not None
    for message in stack.smtp.messages():
        if message["X-Envelope-To"] != address:
            continue
        body = message.get_body(("plain",))
        assert body is not None
        found = re.search(rf"{re.escape(stack.base_url)}/orders/\S+", body.get_content())
        if found:
            return found.group(0)
    return None


async def test_from_checkout_to_the_order_page_in_the_mail_to_cancelling(
    stack: DevStack, api: httpx.Client, page: Page, page_log: PageLog
) -> None:
    await open_drop(stack, api, page, "browser-order-1")
    email = f"order-page-{uuid.uuid4().hex[:8]}@example.com"
    await join(page, email, VISA)
    await expect(page.locator(".buyer-number")).to_have_text("You're buyer #1", timeout=WAIT_MS)

    link = await asyncio.to_thread(
        _eventually, lambda: order_link(stack, email), "the confirmation mail", 60
    )
    (order,) = await orders_of(stack, email)
    path, fragment = link.removeprefix(stack.base_url).split("#")
    token = fragment.removeprefix("t=")
    assert re.fullmatch(r"/orders/[0-9a-f-]{36}", path), link
    assert re.fullmatch(r"[0-9a-f]{64}", token), link

    # From the drop page straight to the order page (the token handed over in this tab's
    # sessionStorage, not in the URL).
    await page.get_by_role("link", name="See or cancel your order").click()
    await expect(page.locator("#order-buyer")).to_have_text("You're buyer #1", timeout=WAIT_MS)
    assert page.url == f"{stack.base_url}{path}"

    # As from another tab (nothing kept): the link in the mail.
    await page.evaluate("sessionStorage.clear()")
    await page.goto("about:blank")  # else only the fragment would change: no new load
    await page.goto(link)
    await expect(page.locator("#order-buyer")).to_have_text("You're buyer #1", timeout=WAIT_MS)
    # Leaving the drop page ends its live stream: the only request cut short.
    left = page_log.take()
    assert all("/live: net::ERR_ABORTED" in failed for failed in left.failed_requests), (
        left.failed_requests
    )
    assert (left.console_errors, left.csp_violations, left.error_responses) == ([], [], [])
    await expect(page.locator("#order-state")).to_have_text(
        "Your card is authorized for $15.00, not charged. You are charged only if the drop "
        "reaches its minimum by the deadline."
    )
    assert page.url == f"{stack.base_url}{path}"  # the token left the address bar

    # A reload keeps the order (the token is in this tab's sessionStorage).
    await page.reload()
    await expect(page.locator("#order-buyer")).to_have_text("You're buyer #1", timeout=WAIT_MS)

    await page.get_by_role("button", name="Cancel my order").click()
    await expect(page.locator("#order-state")).to_have_text(
        "This order is cancelled. The hold on your card is released; nothing is charged.",
        timeout=WAIT_MS,
    )
    await expect(page.get_by_role("button", name="Cancel my order")).to_be_hidden()
    assert order["status"] == "authorized"
    assert [o["status"] for o in await orders_of(stack, email)] == ["cancelled"]

    # The token is in no log: the services' and the gateway's.
    logs = [svc.log_path for svc in stack.services.values()]
    if stack.gateway is not None:
        logs.append(stack.gateway.log_path)
    for log in logs:
        assert token not in log.read_text(errors="replace"), log


async def test_the_order_page_without_its_token_says_where_to_find_it(
    stack: DevStack, page: Page, page_log: PageLog
) -> None:
    await page.goto(f"{stack.base_url}/orders/{uuid.uuid4()}")
    await expect(page.locator("#order-state")).to_have_text(
        "Open this page from the link in your confirmation email to see your order."
    )
    await expect(page.get_by_role("button", name="Cancel my order")).to_be_hidden()


async def test_a_forged_order_token_is_told_in_words(
    stack: DevStack, page: Page, page_log: PageLog
) -> None:
    await page.goto(f"{stack.base_url}/orders/{uuid.uuid4()}#t={'0' * 64}")
    await expect(page.locator("#order-state")).to_have_text(
        "We can't find this order. Open this page from the link in your confirmation email.",
        timeout=WAIT_MS,
    )
    page_log.take()  # the API's 404, on purpose
