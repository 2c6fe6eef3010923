"""A buyer on the drop page in a real Chromium, through the gateway, on the embedded stack: the
live count moves when another order lands, the checkout takes a card through Stripe.js (the
emulator's stand-in), declines are told in words and can be retried with another card, 3-D
Secure goes through the stand-in's challenge, and a drop that closes under the buyer says so.
The harness fails a test whose page logged a console error, a CSP violation or a failed
request."""

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from dropwave_devstack.postgres import to_asyncpg_dsn
from dropwave_devstack.stack import DevStack
from playwright.async_api import Page, expect

from tests.browser.harness import PageLog

from .conftest import _eventually
from .test_orders import publish_campaign

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(240)]

VISA = "4242424242424242"
DECLINED = "4000000000000341"  # attaches, then every charge is declined
THREE_D_SECURE = "4000002760003184"  # authentication required on every payment
WAIT_MS = 60_000
JOIN = "Join for $15.00"


async def open_drop(
    stack: DevStack, api: httpx.Client, page: Page, creator: str, search: str = "", **rules: Any
) -> str:
    """A published drop whose page shows and whose orders are taken (both learn of the
    campaign by events), open in the browser: its slug."""
    slug = publish_campaign(stack, api, creator, **rules)

    def shown() -> bool:
        r = api.get(f"/{slug}")
        return r.status_code == 200 and 'id="checkout"' in r.text

    await asyncio.to_thread(_eventually, shown, "the drop page")
    deadline = asyncio.get_running_loop().time() + 60
    while await query(stack, "SELECT status FROM campaigns WHERE slug = $1", slug) != [
        {"status": "active"}
    ]:
        assert asyncio.get_running_loop().time() < deadline, "orders never learned of the drop"
        await asyncio.sleep(0.2)
    await page.goto(f"{stack.base_url}/{slug}{search}")
    return slug


def place_order(api: httpx.Client, slug: str) -> dict[str, Any]:
    r = api.post(
        f"/api/v1/campaigns/{slug}/orders",
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json={
            "email": f"api-{uuid.uuid4().hex[:8]}@example.com",
            "payment_method_id": "pm_card_visa",
        },
    )
    assert r.status_code == 201, r.text
    answer: dict[str, Any] = r.json()
    return answer


async def query(stack: DevStack, sql: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of orders' own database."""
    conn = await asyncpg.connect(to_asyncpg_dsn(stack.database_url("orders")))
    try:
        return [dict(row) for row in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


async def orders_of(stack: DevStack, email: str) -> list[dict[str, Any]]:
    """The orders of a buyer, oldest first."""
    return await query(
        stack,
        "SELECT status, buyer_number, idempotency_key, payment_method_id, referral_code,"
        " source, buyer_phone FROM orders WHERE buyer_email = $1 ORDER BY created_at",
        email,
    )


async def type_card(page: Page, number: str) -> None:
    card = page.locator("#card-element")
    await card.get_by_label("Card number").fill(number)
    await card.get_by_label("Expiry month (MM)").fill("12")
    await card.get_by_label("Expiry year (YY)").fill("34")
    await card.get_by_label("Security code (CVC)").fill("123")
    await card.get_by_label("Postal code").fill("12345")


async def join(page: Page, email: str, card: str) -> None:
    """Fill the checkout in and press its button."""
    await page.get_by_label("Email").fill(email)
    await type_card(page, card)
    await page.get_by_role("button", name=JOIN).click()


async def test_a_buyer_sees_the_count_move_and_joins(
    stack: DevStack, api: httpx.Client, page: Page, page_log: PageLog
) -> None:
    slug = await open_drop(stack, api, page, "browser-checkout-1", "?ref=friend_1")
    await expect(page.locator("#countdown")).to_have_text(
        re.compile(r"^Ends in (1 day|2 days) \d\d:\d\d:\d\d$")
    )
    joined = page.locator("#joined strong")
    await expect(joined).to_have_text("0")

    # Another buyer's order lands (through the API): the count, the bar and the activity
    # move without a reload.
    other = await asyncio.to_thread(place_order, api, slug)
    await expect(joined).to_have_text("1", timeout=WAIT_MS)
    assert await page.eval_on_selector(".status progress", "p => p.value") == 1
    await expect(page.locator("#activity li").first).to_have_text(
        f"Buyer #{other['buyer_number']} joined", timeout=WAIT_MS
    )

    # The first load stays small: the document and our own assets, as transferred.
    weight = await page.evaluate(
        """() => [...performance.getEntriesByType('navigation'),
                  ...performance.getEntriesByType('resource')]
            .filter((e) => e.name.startsWith(location.origin) && !e.name.includes('/api/'))
            .reduce((sum, e) => sum + e.transferSize, 0)"""
    )
    assert 0 < weight < 100_000, weight

    # Checkout: a double click places one order; "You're buyer #2" once it is authorized.
    email = f"buyer-{uuid.uuid4().hex[:8]}@example.com"
    await page.get_by_label("Email").fill(email)
    await page.get_by_label(re.compile("^Phone")).fill("+1 (555) 010-0199")
    consent = page.get_by_label(re.compile("^Text me about this order"))
    assert not await consent.is_checked()
    await consent.check()
    await type_card(page, VISA)
    button = page.get_by_role("button", name=JOIN)
    await button.dblclick()
    await expect(page.locator(".buyer-number")).to_have_text("You're buyer #2", timeout=WAIT_MS)
    await expect(page.locator("#checkout-form")).to_be_hidden()
    await expect(joined).to_have_text("2", timeout=WAIT_MS)

    (order,) = await orders_of(stack, email)
    assert order["status"] == "authorized"
    assert order["buyer_number"] == 2
    assert order["payment_method_id"].startswith("pm_")
    assert (order["referral_code"], order["source"]) == ("friend_1", "storefront")
    assert order["buyer_phone"] == "+15550100199"
    # The attempt is over: its key is no longer kept; the order's token is, for the order page.
    (kept,) = await page.evaluate("Object.keys(sessionStorage)")
    assert re.fullmatch(r"dropwave:order:[0-9a-f-]{36}", kept), kept

    # Share: counted, and the link copied (no share sheet in headless Chromium).
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    # The share counts with the visitor's referral code (the creator's stats).
    sharing = f"/api/v1/campaigns/{slug}/shares?ref=friend_1"
    async with page.expect_response(lambda r: r.url.endswith(sharing)) as shared:
        await page.get_by_role("button", name="Share this drop").click()
    assert (await shared.value).status == 202
    await expect(page.locator("#share-note")).to_have_text("Link copied.")
    assert await page.evaluate("navigator.clipboard.readText()") == f"{stack.base_url}/{slug}"


async def test_a_declined_card_then_another_card(
    stack: DevStack, api: httpx.Client, page: Page, page_log: PageLog
) -> None:
    await open_drop(stack, api, page, "browser-checkout-2")
    email = f"declined-{uuid.uuid4().hex[:8]}@example.com"

    # What the buyer typed wrong is told in place, and nothing typed is lost.
    await page.get_by_label("Email").fill(email)
    await page.get_by_label(re.compile("^Phone")).fill("555-0199")
    await page.get_by_role("button", name=JOIN).click()
    await expect(page.locator("#phone-error")).to_contain_text("country code")
    assert await page.get_by_label("Email").input_value() == email
    await page.get_by_label(re.compile("^Phone")).fill("")

    await join(page, email, DECLINED)
    alert = page.get_by_role("alert")
    await expect(alert).to_have_text(re.compile("^Your card was declined"), timeout=WAIT_MS)
    assert await page.get_by_label("Email").input_value() == email
    await expect(page.get_by_role("button", name=JOIN)).to_be_enabled()

    await page.locator("#card-element").get_by_label("Card number").fill(VISA)
    await page.get_by_role("button", name=JOIN).click()
    await expect(page.locator(".buyer-number")).to_have_text("You're buyer #2", timeout=WAIT_MS)
    await expect(alert).to_be_hidden()

    # One order per attempt: the declined one and the one that went through, each with its
    # own key and card; nothing placed twice.
    failed, authorized = await orders_of(stack, email)
    assert (failed["status"], authorized["status"]) == ("failed", "authorized")
    assert failed["idempotency_key"] != authorized["idempotency_key"]
    assert failed["payment_method_id"] != authorized["payment_method_id"]


async def test_three_d_secure_through_the_challenge(
    stack: DevStack, api: httpx.Client, page: Page, page_log: PageLog
) -> None:
    slug = await open_drop(stack, api, page, "browser-checkout-3")
    email = f"threeds-{uuid.uuid4().hex[:8]}@example.com"
    await join(page, email, THREE_D_SECURE)
    # The emulator's Stripe.js shows its 3-D Secure dialog once payments asked for it.
    challenge = page.get_by_role("button", name="Complete authentication")
    await challenge.click(timeout=WAIT_MS)
    await expect(page.locator(".buyer-number")).to_have_text("You're buyer #1", timeout=WAIT_MS)
    (order,) = await orders_of(stack, email)
    assert order["status"] == "authorized"

    # A buyer who fails the challenge is told so; that order is cancelled, not left hanging.
    await page.goto(f"{stack.base_url}/{slug}")
    # Leaving the page ends its live stream (an aborted request), and only that.
    left = page_log.take()
    assert [m.split(": ")[-1] for m in left.failed_requests] == ["net::ERR_ABORTED"]
    assert left.failed_requests[0].startswith(f"GET {stack.base_url}/api/v1/campaigns/{slug}/live")
    assert len(left.problems()) == 1
    other = f"threeds-fail-{uuid.uuid4().hex[:8]}@example.com"
    await join(page, other, THREE_D_SECURE)
    await page.get_by_role("button", name="Fail authentication").click(timeout=WAIT_MS)
    await expect(page.get_by_role("alert")).to_have_text(
        re.compile("^Your bank didn't confirm this payment"), timeout=WAIT_MS
    )
    (cancelled,) = await orders_of(stack, other)
    assert cancelled["status"] == "cancelled"


async def test_a_drop_that_closes_under_the_buyer(
    stack: DevStack, api: httpx.Client, page: Page, page_log: PageLog
) -> None:
    deadline = datetime.now(UTC) + timedelta(seconds=15)
    await open_drop(stack, api, page, "browser-checkout-4", deadline=deadline.isoformat())
    await expect(page.locator("#countdown")).to_have_text("Orders have closed.", timeout=30_000)
    await join(page, "late@example.com", VISA)
    # Refused as the deadline passed, or as the drop closed (0 orders: failed at once).
    await expect(page.get_by_role("alert")).to_have_text(
        re.compile(
            r"^(Sorry, this drop closed before your order arrived|This drop has closed)\."
            r" Nothing was charged\.$"
        ),
        timeout=WAIT_MS,
    )
    assert await page.get_by_label("Email").input_value() == "late@example.com"
    # The API's refusal, taken: it is what the buyer was told about.
    taken = page_log.take()
    assert [r.split(" ")[0] for r in taken.error_responses] == ["409"]
    assert taken.console_errors == [
        "Failed to load resource: the server responded with a status of 409 (Conflict)"
    ]
