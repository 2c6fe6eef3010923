"""The unsubscribe link of a real mail (in the SMTP sink) in Chromium, through the gateway:
the page asks, confirms the opt-out and offers to undo it; undo subscribes the address again.
The page keeps its own strict CSP (a style by nonce, no script): the harness fails on any
violation."""

import asyncio
import uuid

import httpx
import pytest
from dropwave_devstack.stack import DevStack
from playwright.async_api import Page, expect

from tests.browser.harness import PageLog

from .conftest import _eventually, not_open_yet
from .test_orders import publish_campaign

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(240)]


def unsubscribe_link(stack: DevStack, address: str) -> str | None:
    assert stack.smtp is not None
    for message in stack.smtp.messages():
        if message["X-Envelope-To"] == address and message["List-Unsubscribe"]:
            return str(message["List-Unsubscribe"]).strip("<>")
    return None


async def test_unsubscribe_confirm_and_undo(
    stack: DevStack, api: httpx.Client, page: Page, page_log: PageLog
) -> None:
    slug = await asyncio.to_thread(publish_campaign, stack, api, "browser-unsub-1")
    email = f"unsub-{uuid.uuid4().hex[:8]}@example.com"

    def place() -> httpx.Response | None:
        r = api.post(
            f"/api/v1/campaigns/{slug}/orders",
            headers={"Idempotency-Key": str(uuid.uuid4())},
            json={"email": email, "payment_method_id": "pm_card_visa"},
        )
        return None if not_open_yet(r) else r

    placed = await asyncio.to_thread(_eventually, place, "orders to learn of the drop", 30)
    assert placed.status_code == 201, placed.text
    link = await asyncio.to_thread(
        _eventually, lambda: unsubscribe_link(stack, email), "the confirmation mail", 60
    )
    assert link.startswith(f"{stack.base_url}/api/v1/notifications/unsubscribe?token=")

    await page.goto(link)
    await expect(page.get_by_role("heading")).to_have_text("Unsubscribe from DropWave emails?")
    await page.get_by_role("button", name="Unsubscribe").click()
    await expect(page.get_by_role("heading")).to_have_text("You're unsubscribed")
    await expect(page.get_by_role("status")).to_have_text(
        "You won't get emails from DropWave at this address any more, for any drop."
    )
    await page.get_by_role("button", name="Undo: keep emailing me").click()
    await expect(page.get_by_role("heading")).to_have_text("You're subscribed again")
    await expect(page.get_by_role("button", name="Unsubscribe after all")).to_be_visible()

    # A mangled link is told in words.
    await page.goto(link + "x")
    await expect(page.get_by_role("heading")).to_have_text("This link isn't valid")
    page_log.take()  # its 400, on purpose
