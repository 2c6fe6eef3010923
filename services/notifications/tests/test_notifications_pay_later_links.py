"""The pay-later link in the buyer's messages carries the token payments signed
(``PAY_LATER_URL_TEMPLATE`` with ``{order_id}`` and ``{token}``); templates written before
tokens still work (the token goes in a ``token`` query parameter)."""

import uuid
from typing import Any

import pytest
from notifications.domain import check_pay_later_template, order_page_url, pay_later_url
from notifications.settings import Settings
from notifications.sms import FileCarrier
from pydantic import ValidationError

from .fakes import RecordingMailer

ORDER = uuid.UUID("0b9e8a4c-5d2f-4e1b-8a7c-6f3e2d1c0b9a")
TOKEN = "1925626200.q1vJ2lC8mRk0w6ZbUu3yVh9xT4nEo7sA5dGfHpLiKjM"


def test_the_template_places_the_order_and_the_token() -> None:
    new = "https://drops.example/pay/{order_id}?token={token}"
    assert pay_later_url(new, ORDER, TOKEN) == f"https://drops.example/pay/{ORDER}?token={TOKEN}"
    path = "https://drops.example/pay/{order_id}/{token}"
    assert pay_later_url(path, ORDER, TOKEN) == f"https://drops.example/pay/{ORDER}/{TOKEN}"
    assert pay_later_url(new, ORDER, None) == f"https://drops.example/pay/{ORDER}?token="


def test_a_template_without_the_token_gets_it_in_the_fragment() -> None:
    """Where the storefront's pay page reads it; a fragment never reaches a server's log."""
    old = "https://drops.example/pay/{order_id}"
    assert pay_later_url(old, ORDER, None) == f"https://drops.example/pay/{ORDER}"
    assert pay_later_url(old, ORDER, TOKEN) == f"https://drops.example/pay/{ORDER}#t={TOKEN}"
    query = "https://drops.example/pay?order={order_id}"
    assert (
        pay_later_url(query, ORDER, TOKEN) == f"https://drops.example/pay?order={ORDER}#t={TOKEN}"
    )


def test_the_order_page_link_carries_the_order_token_in_the_fragment() -> None:
    token = "ab" * 32
    assert (
        order_page_url("https://drops.example/", ORDER, token)
        == f"https://drops.example/orders/{ORDER}#t={token}"
    )
    assert order_page_url("https://drops.example", ORDER, None) is None


def test_the_template_is_checked_at_start_up() -> None:
    assert check_pay_later_template("https://x/pay/{order_id}?token={token}")
    for bad in ("https://x/pay", "https://x/pay/{order}", "https://x/{order_id}/{secret}"):
        with pytest.raises(ValueError, match="template"):
            check_pay_later_template(bad)
    base = {
        "database_url": "postgresql+asyncpg://x@h/db",
        "kafka_bootstrap_servers": "h:9092",
        "smtp_host": "smtp.example",
        "mail_from": "drops@example.com",
        "notifications_link_secret": "link-secret-0123456789",
    }
    settings = Settings.model_validate(base)
    assert settings.pay_later_url_template == "http://localhost:8080/pay/{order_id}#t={token}"
    with pytest.raises(ValidationError, match="order_id"):
        Settings.model_validate(base | {"pay_later_url_template": "https://x/pay/{order}"})


async def test_the_capture_failed_and_reminder_messages_carry_the_token(
    handle: Any, drop: Any, make_worker: Any, mailer: RecordingMailer, carrier: FileCarrier
) -> None:
    worker = make_worker(
        pay_later_url_template="https://drops.example/pay/{order_id}?token={token}"
    )
    await handle(drop.published(), drop.placed(1), drop.confirmed(1), drop.placed(2, phone=False))
    await handle(drop.confirmed(2, phone=False), drop.succeeded(2))
    await handle(drop.capture_failed(1), drop.capture_failed(2, token=False), drop.reminder(1, 1))
    await worker.drain()
    link = f"https://drops.example/pay/{drop.orders[1]}?token={drop.pay_token(1)}"
    mine = [m for m in mailer.sent if m["To"] == drop.email(1)]
    pay_later = [m for m in mine if "/pay/" in str(m.get_body(("plain",)))]
    subjects = sorted(str(m["Subject"]).split(":")[0] for m in pay_later)
    assert subjects == ["Action needed", "Reminder"]  # the capture failed and the reminder
    for message in pay_later:
        for part in ("plain", "html"):
            body = message.get_body((part,))
            assert body is not None
            assert link in body.get_content()
            assert "pay_token" not in body.get_content()
    texts = [m.body for m in carrier.sent if m.to == drop.phone(1) and "/pay/" in m.body]
    assert len(texts) == 2
    assert all(link in t for t in texts), texts
    # An event without a token (an older producer): the link has none.
    [other] = [
        body.get_content()
        for m in mailer.sent
        if m["To"] == drop.email(2)
        and (body := m.get_body(("plain",))) is not None
        and "/pay/" in body.get_content()
    ]
    assert f"https://drops.example/pay/{drop.orders[2]}?token=\n" in other
