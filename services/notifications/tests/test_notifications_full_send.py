"""A whole drop's messages over real SMTP (the dev stack's sink) and through the Twilio
adapter (the real SDK against a local fake of Twilio's API): content checked, and no
address or phone number in any log line."""

import logging
from typing import Any

import pytest
from dropwave_devstack.smtp_sink import SmtpSink
from dropwave_devstack.twilio_emulator import FakeTwilioApi
from dropwave_runtime.db import Database
from notifications.mailer import SmtpMailer
from notifications.settings import Settings
from notifications.sms import TwilioSms
from pythonjsonlogger.json import JsonFormatter

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "twilio-test-auth-token"


def smtp_settings(sink: SmtpSink) -> Settings:
    return Settings(
        database_url="postgresql+asyncpg://unused/unused",
        kafka_bootstrap_servers="127.0.0.1:1",
        smtp_host=sink.host,
        smtp_port=sink.port,
        mail_from="DropWave <drops@dropwave.test>",
        notifications_link_secret="x" * 32,
    )


def body(message: Any, kind: str) -> str:
    part = message.get_body((kind,))
    assert part is not None
    return str(part.get_content())


@pytest.mark.timeout(60)
async def test_a_drop_over_smtp_and_twilio_with_no_contact_data_in_logs(
    db: Database,
    handle: Any,
    make_drop: Any,
    make_worker: Any,
    sink: SmtpSink,
    fake_twilio: FakeTwilioApi,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink.clear()
    caplog.set_level(logging.DEBUG)
    won, lost = make_drop("Walnut lamp", min_orders=2), make_drop("Felt hat", min_orders=3)
    sms = TwilioSms(ACCOUNT_SID, AUTH_TOKEN, from_="+15550001111", api_base=fake_twilio.base_url)
    worker = make_worker(email=SmtpMailer(smtp_settings(sink)), sms=sms)
    try:
        await handle(won.published(), lost.published(creator_email="hat-maker@example.com"))
        for d in (won, lost):
            await handle(d.placed(1), d.confirmed(1), d.placed(2, consent=False), d.confirmed(2))
        await handle(won.milestone(100, 2), won.tipped(2), won.succeeded(2))
        await handle(won.captured(1), won.capture_failed(2), won.refunded(1, cents=500))
        await handle(won.reminder(2, 1))
        await handle(lost.failed(2))
        await worker.drain()
    finally:
        await sms.close()

    mail = sink.messages()
    subjects = sorted((str(m["X-Envelope-To"]), str(m["Subject"])) for m in mail)
    creator = "creator-secret@example.com"
    assert subjects == sorted(
        [
            (won.email(1), "You're buyer #1 for Walnut lamp"),
            (won.email(2), "You're buyer #2 for Walnut lamp"),
            (lost.email(1), "You're buyer #1 for Felt hat"),
            (lost.email(2), "You're buyer #2 for Felt hat"),
            (creator, "Walnut lamp is at 100% of its minimum"),
            (creator, "Walnut lamp tipped: 2 orders!"),
            (won.email(1), "It's happening: Walnut lamp reached 2 orders"),
            (won.email(2), "It's happening: Walnut lamp reached 2 orders"),
            (creator, "Walnut lamp succeeded"),
            (won.email(1), "You've been charged $25.00 for Walnut lamp"),
            (won.email(2), "Action needed: we couldn't charge your card for Walnut lamp"),
            (won.email(1), "You've been refunded $5.00 for Walnut lamp"),
            (
                won.email(2),
                "Reminder: pay for Walnut lamp by Thursday 9 January 2031, 09:30 UTC to keep "
                "your order",
            ),
            (lost.email(1), "Felt hat didn't reach its minimum: your hold is released"),
            (lost.email(2), "Felt hat didn't reach its minimum: your hold is released"),
            ("hat-maker@example.com", "Felt hat did not reach its minimum"),
        ]
    )
    assert len({m["Message-ID"] for m in mail}) == len(mail)
    assert all(m.get_content_type() == "multipart/alternative" for m in mail)
    assert all(m["From"] == "DropWave <drops@dropwave.test>" for m in mail)

    by_subject = {str(m["Subject"]): m for m in mail}
    confirmed = by_subject["You're buyer #1 for Walnut lamp"]
    assert "only charged if it reaches 2 orders by Thursday 2 January 2031, 09:30 UTC" in body(
        confirmed, "plain"
    )
    charged = by_subject["You've been charged $25.00 for Walnut lamp"]
    assert "you've been charged $25.00" in body(charged, "plain")
    failed = by_subject["Action needed: we couldn't charge your card for Walnut lamp"]
    pay_link = f"https://drops.example/pay/{won.orders[2]}"
    assert f"by Thursday 9 January 2031, 09:30 UTC: {pay_link}" in body(failed, "plain")
    assert pay_link in body(failed, "html")
    reminder = next(m for m in mail if str(m["Subject"]).startswith("Reminder: pay"))
    assert f"09:30 UTC: {pay_link}" in body(reminder, "plain")
    result = by_subject["Walnut lamp succeeded"]
    assert "2 x $25.00 = $50.00 is being captured" in body(result, "plain")
    released = next(m for m in mail if "hold is released" in m["Subject"])
    assert "you pay nothing" in body(released, "plain")
    for m in mail:
        assert "/api/v1/notifications/unsubscribe?token=" in body(m, "plain")

    # SMS: buyer 1 of each drop consented; buyer 2 did not.
    texts = sorted((m["To"], m["Body"]) for m in fake_twilio.messages)
    assert [t for t, _ in texts] == sorted([won.phone(1)] * 4 + [lost.phone(1)] * 2)
    assert any("You've been charged $25.00" in b for _, b in texts)
    assert all(b.endswith("Reply STOP to opt out.") for _, b in texts)
    assert all(
        m["StatusCallback"] == "https://drops.example/api/v1/notifications/twilio/status"
        for m in fake_twilio.messages
    )

    # Nothing that identifies a person in any log record, message or extra field.
    formatter = JsonFormatter("%(levelname)s %(name)s %(message)s")
    lines = "\n".join(formatter.format(r) for r in caplog.records)
    assert "notification sent" in lines
    secrets = {creator, "hat-maker@example.com"}
    for d in (won, lost):
        for n in (1, 2):
            secrets |= {d.email(n), d.phone(n), d.phone(n).lstrip("+")}
    leaked = {s for s in secrets if s in lines}
    assert leaked == set()
