"""Notifications end to end: a drop that succeeds and one that fails, through the gateway,
with every service running. Each buyer and the creator (whose address comes from the dev
token's email claim, through campaigns' CampaignPublished) get exactly the expected messages,
once each (emails counted by Message-ID at the SMTP sink, SMS at the fake carrier's files);
links in the mail point at the gateway; no address appears in any service's log."""

import json
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from dropwave_devstack.stack import DevStack

from .conftest import Eventually, not_open_yet

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(480)]

DEADLINE_S = 15


class Drop:
    def __init__(self, title: str, buyers: int) -> None:
        tag = uuid.uuid4().hex[:8]
        self.title = f"{title} {tag}"
        self.emails = [f"n{tag}-{i}@example.com" for i in range(1, buyers + 1)]
        self.phone = f"+1555{int(tag, 16) % 10_000_000:07d}"  # buyer 1 texts
        self.slug = ""
        self.status: dict[str, Any] = {}


def _launch(api: httpx.Client, creator: dict[str, str], drop: Drop) -> None:
    deadline = (datetime.now(UTC) + timedelta(seconds=DEADLINE_S)).isoformat()
    body = {
        "title": drop.title,
        "price_cents": 2500,
        "currency": "usd",
        "min_orders": 5,
        "deadline": deadline,
    }
    r = api.post("/api/v1/campaigns", headers=creator, json=body)
    assert r.status_code == 201, r.text
    p = api.post(f"/api/v1/campaigns/{r.json()['id']}/publish", headers=creator)
    assert p.status_code == 200, p.text
    drop.slug = r.json()["slug"]


def _order(api: httpx.Client, drop: Drop, i: int, eventually: Eventually) -> None:
    body: dict[str, Any] = {"email": drop.emails[i], "payment_method_id": "pm_card_visa"}
    if i == 0:
        body |= {"phone": drop.phone, "sms_consent": True}
    key = {"Idempotency-Key": str(uuid.uuid4())}

    def place() -> httpx.Response | None:
        r = api.post(f"/api/v1/campaigns/{drop.slug}/orders", headers=key, json=body)
        return None if not_open_yet(r) else r

    placed = eventually(place, "orders to learn of the campaign")
    assert placed.status_code == 201, placed.text


CREATOR = f"creator-notify-{uuid.uuid4().hex[:8]}"
CREATOR_EMAIL = f"{CREATOR}@creators.dropwave.test"  # the dev token's default email claim


@pytest.fixture(scope="module")
def drops(stack: DevStack) -> dict[str, Drop]:
    """Both drops, played once by one creator: five buyers reach the minimum, two do not."""
    from .conftest import _eventually as eventually

    won, lost = Drop("Notified lamp", 5), Drop("Notified hat", 2)
    creator = {"Authorization": f"Bearer {stack.mint_token(CREATOR)}"}
    with httpx.Client(base_url=stack.base_url, timeout=10) as api:
        for drop in (won, lost):
            _launch(api, creator, drop)
        for drop in (won, lost):
            for i in range(len(drop.emails)):
                _order(api, drop, i, eventually)

        def closed(drop: Drop, wanted: str) -> dict[str, Any] | None:
            view: dict[str, Any] = api.get(f"/api/v1/campaigns/{drop.slug}").json()
            return view if view["status"] == wanted else None

        won.status = eventually(lambda: closed(won, "successful"), "the drop to succeed", 180)
        lost.status = eventually(lambda: closed(lost, "failed"), "the drop to fail", 180)
    return {"won": won, "lost": lost}


def mail_to(stack: DevStack, address: str) -> list[EmailMessage]:
    assert stack.smtp is not None
    return [m for m in stack.smtp.messages() if m["X-Envelope-To"] == address]


def sms_to(stack: DevStack, phone: str) -> list[str]:
    folder = stack.data_dir / "sms"
    found = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    return [m["body"] for m in found if m["to"] == phone]


def subjects(stack: DevStack, address: str) -> Counter[str]:
    messages = mail_to(stack, address)
    assert len({m["Message-ID"] for m in messages}) == len(messages), "a message sent twice"
    return Counter(str(m["Subject"]) for m in messages)


def settle(eventually: Eventually, probe: Any, what: str) -> None:
    """Wait for the expected messages, then a little longer: nothing more may arrive."""
    eventually(probe, what, 60)
    time.sleep(2)
    assert probe(), f"{what}: more messages arrived than expected"


def test_successful_drop_confirms_and_announces_the_tipping_once_each(
    stack: DevStack, drops: dict[str, Drop], eventually: Eventually
) -> None:
    won = drops["won"]
    assert won.status["current_orders"] == 5
    assert won.status["tipped_at"] is not None
    tipped = f"It's happening: {won.title} reached 5 orders"
    charged = f"You've been charged $25.00 for {won.title}"

    def exactly() -> bool:
        for n, address in enumerate(won.emails, start=1):
            got = subjects(stack, address)
            got.pop(charged, None)  # asserted by the next test, once settlement exists
            if got != Counter({f"You're buyer #{n} for {won.title}": 1, tipped: 1}):
                return False
        return True

    settle(eventually, exactly, "confirmation and tipping emails to the five buyers")
    texts = sms_to(stack, won.phone)
    assert sum("you're buyer #1" in t for t in texts) == 1
    assert sum("reached 5 orders" in t for t in texts) == 1


def test_successful_drop_charges_each_buyer_once(
    stack: DevStack, drops: dict[str, Drop], eventually: Eventually
) -> None:
    won = drops["won"]
    charged = f"You've been charged $25.00 for {won.title}"

    def once_each() -> bool:
        return all(subjects(stack, a)[charged] == 1 for a in won.emails)

    settle(eventually, once_each, "a charge email to each of the five buyers")
    texts = sms_to(stack, won.phone)
    assert sum("You've been charged $25.00" in t for t in texts) == 1
    message = mail_to(stack, won.emails[0])
    [receipt] = [m for m in message if m["Subject"] == charged]
    text = receipt.get_body(("plain",))
    assert text is not None
    assert "you've been charged $25.00" in text.get_content()


def test_failed_drop_releases_every_hold_once(
    stack: DevStack, drops: dict[str, Drop], eventually: Eventually
) -> None:
    lost = drops["lost"]
    assert lost.status["current_orders"] == 2
    released = f"{lost.title} didn't reach its minimum: your hold is released"

    def exactly() -> bool:
        return all(
            subjects(stack, address)
            == Counter({f"You're buyer #{n} for {lost.title}": 1, released: 1})
            for n, address in enumerate(lost.emails, start=1)
        )

    settle(eventually, exactly, "confirmation and hold-released emails to the two buyers")
    [message] = [m for m in mail_to(stack, lost.emails[1]) if m["Subject"] == released]
    text = message.get_body(("plain",))
    assert text is not None
    assert "you pay nothing" in text.get_content()
    texts = sms_to(stack, lost.phone)
    assert len(texts) == 2
    assert sum("didn't reach its minimum" in t for t in texts) == 1


def test_the_creator_gets_milestones_tipping_and_results_once_each(
    stack: DevStack, drops: dict[str, Drop], eventually: Eventually
) -> None:
    won, lost = drops["won"], drops["lost"]
    expected = Counter(
        [f"{won.title} is at {p}% of its minimum" for p in (25, 50, 75, 100)]
        + [f"{won.title} tipped: 5 orders!", f"{won.title} succeeded"]
        # 2 of 5 orders: 40 %, so only the 25 % milestone, then the failure.
        + [f"{lost.title} is at 25% of its minimum", f"{lost.title} did not reach its minimum"]
    )
    settle(
        eventually,
        lambda: subjects(stack, CREATOR_EMAIL) == expected,
        "the creator's milestone, tipped and result emails",
    )
    mail = mail_to(stack, CREATOR_EMAIL)
    [result] = [m for m in mail if m["Subject"] == f"{won.title} succeeded"]
    text = result.get_body(("plain",))
    assert text is not None
    assert "5 x $25.00 = $125.00" in text.get_content()  # the settlement summary
    for message in mail:
        assert str(message["List-Unsubscribe"]).startswith(f"<{stack.base_url}/api/v1/")


def test_no_address_appears_in_any_service_log(stack: DevStack, drops: dict[str, Drop]) -> None:
    won, lost = drops["won"], drops["lost"]
    addresses = [CREATOR_EMAIL, won.phone, lost.phone, *won.emails, *lost.emails]
    for svc in stack.services.values():
        log = svc.log_path.read_text(errors="replace")
        leaked = [a for a in addresses if a in log]
        assert not leaked, f"{svc.name}'s log carries contact data"


def test_unsubscribe_link_works_through_the_gateway(
    stack: DevStack, api: httpx.Client, drops: dict[str, Drop], eventually: Eventually
) -> None:
    lost = drops["lost"]
    messages = eventually(lambda: mail_to(stack, lost.emails[1]), "a message to buyer 2")
    link = str(messages[0]["List-Unsubscribe"]).strip("<>")
    # The link points at the running gateway (its port is chosen before the services start).
    assert link.startswith(f"{stack.base_url}/api/v1/notifications/unsubscribe?token=")
    text = messages[0].get_body(("plain",))
    assert text is not None
    assert link in text.get_content()
    path = link[len(stack.base_url) :]
    assert lost.emails[1] not in link
    page = api.get(path)
    assert page.status_code == 200, page.text
    assert "Unsubscribe" in page.text
    done = api.post(path)
    assert done.status_code == 200, done.text
    assert done.json() == {"status": "unsubscribed"}
    forged = api.post("/api/v1/notifications/unsubscribe", params={"token": "A" * 22 + ".B"})
    assert forged.status_code == 400
    assert forged.headers["content-type"].startswith("application/problem+json")
