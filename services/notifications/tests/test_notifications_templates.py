import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from dropwave_contracts.events import OrderConfirmed
from jinja2 import UndefinedError
from notifications.contexts import order_confirmed as order_confirmed_context
from notifications.domain import delivery_id, format_deadline, format_money
from notifications.templates import has_sms, render, render_sms


def order_confirmed(**overrides: object) -> OrderConfirmed:
    fields: dict[str, object] = {
        "producer": "orders",
        "correlation_id": "corr-1",
        "campaign_id": uuid.uuid4(),
        "order_id": uuid.uuid4(),
        "buyer_number": 24,
        "amount_cents": 4900,
        "currency": "eur",
        "buyer_email": "buyer@example.com",
        "buyer_phone": None,
        "campaign_title": "Walnut desk lamp",
        "campaign_min_orders": 50,
        "campaign_deadline": datetime(2030, 3, 15, 18, 0, tzinfo=UTC),
    }
    fields.update(overrides)
    return OrderConfirmed.model_validate(fields)


@pytest.mark.parametrize(
    ("cents", "currency", "expected"),
    [
        (4900, "eur", "€49.00"),
        (123456, "usd", "$1,234.56"),
        (5, "gbp", "£0.05"),
        (500, "jpy", "¥500"),
        (1250, "chf", "12.50 CHF"),
        (12340, "kwd", "12.340 KWD"),
    ],
)
def test_format_money(cents: int, currency: str, expected: str) -> None:
    assert format_money(cents, currency) == expected


def test_format_deadline_is_utc_and_readable() -> None:
    paris = timezone(timedelta(hours=1))
    assert format_deadline(datetime(2030, 3, 15, 19, 0, tzinfo=paris)) == (
        "Friday 15 March 2030, 18:00 UTC"
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        format_deadline(datetime(2030, 3, 15, 19, 0))


def test_order_confirmed_renders_text_and_html() -> None:
    rendered = render("order_confirmed", order_confirmed_context(order_confirmed()))
    assert rendered.subject == "You're buyer #24 for Walnut desk lamp"
    for body in (rendered.text, rendered.html):
        assert "buyer #24" in body
        assert "Walnut desk lamp" in body
        assert "€49.00" in body
        assert "50 orders" in body
        assert "Friday 15 March 2030, 18:00 UTC" in body
    assert "only charged if it reaches 50 orders by Friday 15 March 2030, 18:00 UTC" in (
        rendered.text
    )
    assert rendered.html.lstrip().startswith("<!DOCTYPE html>")
    assert "buyer@example.com" not in rendered.text + rendered.html


def test_html_escapes_title_but_text_keeps_it() -> None:
    title = "<script>alert('x')</script> & co"
    rendered = render(
        "order_confirmed", order_confirmed_context(order_confirmed(campaign_title=title))
    )
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co" in rendered.html
    assert title in rendered.text


def test_subject_is_one_line_even_with_newlines_in_title() -> None:
    rendered = render(
        "order_confirmed",
        order_confirmed_context(order_confirmed(campaign_title="Lamp\r\nBcc: evil@example.com")),
    )
    assert "\n" not in rendered.subject
    assert "\r" not in rendered.subject


def test_missing_context_is_an_error() -> None:
    with pytest.raises(UndefinedError):
        render("order_confirmed", {"buyer_number": 1})


def test_every_email_template_renders_with_its_unsubscribe_footer() -> None:
    names = {"order_confirmed", "campaign_tipped", "payment_captured", "hold_released"}
    names |= {"capture_failed", "refunded", "creator_milestone", "creator_tipped"}
    names |= {"creator_result", "payment_reminder"}
    context = {
        "buyer_number": 2, "title": "Lamp", "amount": "$25.00", "min_orders": 5,
        "deadline": "Friday", "reason": "failed", "pay_later_until": "Monday",
        "pay_later_url": "https://x/pay/1", "percent": 50, "current_orders": 3,
        "outcome": "succeeded", "confirmed_orders": 6, "price": "$25.00", "gross": "$150.00",
        "unsubscribe_url": "https://x/unsub?token=abc",
    }  # fmt: skip
    for name in sorted(names):
        rendered = render(name, context)
        assert "Lamp" in rendered.subject, name
        assert "https://x/unsub?token=abc" in rendered.text, name
        assert 'href="https://x/unsub?token=abc"' in rendered.html, name
    assert "charged $25.00" in render("payment_captured", context).subject
    assert "https://x/pay/1" in render("capture_failed", context).text
    reminder = render("payment_reminder", context)
    assert "by Monday: https://x/pay/1" in reminder.text
    assert 'href="https://x/pay/1"' in reminder.html
    assert "6 x $25.00 = $150.00" in render("creator_result", context).text


def test_sms_bodies_are_one_line_and_offer_stop() -> None:
    context = {"buyer_number": 2, "title": "Lamp", "amount": "$25.00", "min_orders": 5,
               "deadline": "Friday", "reason": "cancelled", "pay_later_until": None,
               "pay_later_url": "https://x/pay/1"}  # fmt: skip
    for name in ("order_confirmed", "campaign_tipped", "payment_captured", "hold_released"):
        body = render_sms(name, context)
        assert "\n" not in body
        assert body.endswith("Reply STOP to opt out."), name
    assert "was cancelled" in render_sms("hold_released", context)
    for outcome in ("succeeded", "failed"):
        result = {**context, "outcome": outcome, "confirmed_orders": 6, "percent": 50}
        for name in ("creator_result", "creator_milestone", "creator_tipped"):
            body = render_sms(name, {**result, "current_orders": 3})
            assert "\n" not in body, name
            assert "Lamp" in body, name
            assert body.endswith("Reply STOP to opt out."), name
    assert "Lamp succeeded with 6 orders" in render_sms(
        "creator_result", {**context, "outcome": "succeeded", "confirmed_orders": 6}
    )
    assert has_sms("creator_result")
    reminder = render_sms("payment_reminder", {**context, "pay_later_until": "Monday"})
    assert "pay $25.00 for Lamp by Monday to keep your order: https://x/pay/1" in reminder
    assert reminder.endswith("Reply STOP to opt out.")


def test_delivery_id_is_stable_per_event_recipient_and_channel() -> None:
    event_id = uuid.uuid4()
    assert delivery_id(event_id, "buyer", "email") == delivery_id(event_id, "buyer", "email")
    assert delivery_id(event_id, "buyer", "email") != delivery_id(event_id, "buyer", "sms")
    assert delivery_id(event_id, "buyer", "email") != delivery_id(event_id, "creator", "email")
    assert delivery_id(event_id, "buyer", "email") != delivery_id(uuid.uuid4(), "buyer", "email")
    assert delivery_id(event_id, "buyer", "email", "a") != delivery_id(
        event_id, "buyer", "email", "b"
    )
