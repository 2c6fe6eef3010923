"""The confirmation mail links to the buyer's order page with the order token in the URL's
fragment (never a query string: those are logged); an event without a token (an older
producer) sends the mail without the link."""

from typing import Any

from .fakes import RecordingMailer

TOKEN = "5e" * 32


async def test_the_confirmation_mail_links_to_the_order_page(
    handle: Any, drop: Any, make_worker: Any, mailer: RecordingMailer
) -> None:
    worker = make_worker(public_base_url="https://drops.example")
    await handle(drop.published(), drop.placed(1), drop.confirmed(1, order_token=TOKEN))
    await handle(drop.placed(2), drop.confirmed(2))
    await worker.drain()
    link = f"https://drops.example/orders/{drop.orders[1]}#t={TOKEN}"
    [mine] = [m for m in mailer.sent if m["To"] == drop.email(1)]
    for part in ("plain", "html"):
        body = mine.get_body((part,))
        assert body is not None
        assert link in body.get_content(), body.get_content()
        assert "order_token" not in body.get_content()
    [other] = [m for m in mailer.sent if m["To"] == drop.email(2)]
    plain = other.get_body(("plain",))
    assert plain is not None
    assert "You're buyer #2" in plain.get_content()
    assert "/orders/" not in plain.get_content()
