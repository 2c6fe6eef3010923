"""The pay-later page in a real Chromium, through the gateway: the link in the capture-failed
mail (its token in the URL's fragment) opens the page, which says what to pay; the buyer types
a card that needs 3-D Secure, passes the emulator's challenge, and the order ends captured.
Forged and expired links are told in words, without a form."""

import asyncio
import re
import time
import uuid

import httpx
import pytest
from dropwave_devstack.stack import DevStack
from playwright.async_api import Page, expect

from tests.browser.harness import PageLog

from .conftest import _eventually
from .test_browser_checkout import THREE_D_SECURE, WAIT_MS, type_card
from .test_pay_later import a_failed_capture, order_view

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(300)]

INVALID = (
    "This payment link isn't valid. Open it again from the latest email we sent you; if it "
    "still fails, the link has expired."
)
EXPIRED = "This payment link has expired, so this order can no longer be paid. Nothing was charged."


async def test_a_pay_later_link_from_the_mail_completes_payment_with_3d_secure(
    stack: DevStack, api: httpx.Client, page: Page, page_log: PageLog
) -> None:
    _, orders, link, _ = await asyncio.to_thread(a_failed_capture, stack, api, _eventually)
    late = orders[-1]
    await page.goto(link)
    await expect(page.locator("#pay-state")).to_have_text(
        re.compile(r"^To keep your order, pay \$30\.00 by "), timeout=WAIT_MS
    )
    assert page.url == f"{stack.base_url}/pay/{late['id']}"  # the token left the address bar

    await type_card(page, THREE_D_SECURE)
    await page.get_by_role("button", name="Pay $30.00").click()
    await page.get_by_role("button", name="Complete authentication").click(timeout=WAIT_MS)
    await expect(page.locator("#pay-state")).to_have_text(
        "Paid: $30.00. Thank you! Your order is complete.", timeout=WAIT_MS
    )
    await asyncio.to_thread(
        _eventually,
        lambda: order_view(api, late)["status"] == "captured",
        "the paid order captured",
        60,
    )


async def test_forged_and_expired_pay_links_are_told_in_words(
    stack: DevStack, page: Page, page_log: PageLog
) -> None:
    expired = f"{int(time.time()) - 60}.{'A' * 43}"
    await page.goto(f"{stack.base_url}/pay/{uuid.uuid4()}#t={expired}")
    await expect(page.get_by_role("alert")).to_have_text(EXPIRED)
    await expect(page.locator("#pay-form")).to_be_hidden()

    forged = f"{int(time.time()) + 3600}.{'A' * 43}"
    await page.goto(f"{stack.base_url}/pay/{uuid.uuid4()}#t={forged}")
    await expect(page.get_by_role("alert")).to_have_text(INVALID, timeout=WAIT_MS)
    await expect(page.locator("#pay-form")).to_be_hidden()
    refused = page_log.take()  # payments' 404 for the forged token, on purpose
    assert [a.split(" ")[0] for a in refused.error_responses] == ["404"], refused

    await page.goto(f"{stack.base_url}/pay/{uuid.uuid4()}")
    await expect(page.get_by_role("alert")).to_have_text(INVALID)
