"""SmtpMailer against a real SMTP server (the dev stack's sink), and the recording fake."""

import uuid
from pathlib import Path

import pytest
from dropwave_devstack.ports import free_port
from dropwave_devstack.smtp_sink import SmtpSink
from notifications.domain import RenderedEmail
from notifications.mailer import (
    RecordingMailer,
    SmtpMailer,
    TransientDeliveryError,
    compose,
    delivery_id_of,
    message_id,
)
from notifications.settings import Settings

RENDERED = RenderedEmail(
    subject="You're buyer #7 for Café lamp",
    text="You're buyer #7 for Café lamp: your card is on hold.\n",
    html="<p>You're buyer #7 for <b>Café lamp</b>: your card is on hold.</p>\n",
)


def settings(host: str, port: int) -> Settings:
    return Settings(
        database_url="postgresql+asyncpg://unused/unused",
        kafka_bootstrap_servers="127.0.0.1:1",
        smtp_host=host,
        smtp_port=port,
        mail_from="DropWave <no-reply@dropwave.test>",
        smtp_timeout_s=5,
        notifications_link_secret="x" * 32,
    )


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u@h/db")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "h:9092")
    monkeypatch.setenv("SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("SMTP_PORT", "2525")
    monkeypatch.setenv("MAIL_FROM", "no-reply@example.com")
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2")
    monkeypatch.setenv("NOTIFICATIONS_LINK_SECRET", "link-secret-0123456789")
    s = Settings()  # type: ignore[call-arg]
    assert (s.smtp_host, s.smtp_port, s.mail_from) == (
        "smtp.example.com",
        2525,
        "no-reply@example.com",
    )
    assert s.smtp_password is not None
    assert "hunter2" not in repr(s)
    assert "link-secret" not in repr(s)
    assert (s.email_provider, s.sms_provider) == ("smtp", "none")
    assert s.smtp_starttls is False


async def test_smtp_mailer_delivers_multipart_message(sink: SmtpSink, tmp_path: Path) -> None:
    sink.clear()
    did = uuid.uuid4()
    await SmtpMailer(settings(sink.host, sink.port)).send(
        compose(RENDERED, to="buyer@example.com", delivery_id=did)
    )
    [received] = sink.messages()
    assert received["Subject"] == RENDERED.subject
    assert received["To"] == "buyer@example.com"
    assert received["From"] == "DropWave <no-reply@dropwave.test>"
    assert received["X-Envelope-To"] == "buyer@example.com"
    assert received["Message-ID"] == message_id(did)
    assert delivery_id_of(received) == did
    assert received.get_content_type() == "multipart/alternative"
    text = received.get_body(("plain",))
    html = received.get_body(("html",))
    assert text is not None
    assert html is not None
    assert text.get_content() == RENDERED.text
    assert html.get_content() == RENDERED.html


async def test_resend_carries_the_same_message_id(sink: SmtpSink) -> None:
    sink.clear()
    did = uuid.uuid4()
    mailer = SmtpMailer(settings(sink.host, sink.port))
    for _ in range(2):
        await mailer.send(compose(RENDERED, to="buyer@example.com", delivery_id=did))
    ids = {m["Message-ID"] for m in sink.messages()}
    assert ids == {message_id(did)}


async def test_unreachable_server_is_transient_and_leaks_no_address() -> None:
    mailer = SmtpMailer(settings("127.0.0.1", free_port()))
    with pytest.raises(TransientDeliveryError) as info:
        await mailer.send(compose(RENDERED, to="buyer@example.com", delivery_id=uuid.uuid4()))
    assert "buyer@example.com" not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


async def test_recording_mailer_records_and_fails_on_demand() -> None:
    mailer = RecordingMailer()
    message = compose(RENDERED, to="buyer@example.com", delivery_id=uuid.uuid4())
    await mailer.send(message)
    assert mailer.sent == [message]
    assert message["From"] == mailer.mail_from
    mailer.fail_with = TransientDeliveryError("SMTPServerDisconnected")
    with pytest.raises(TransientDeliveryError):
        await mailer.send(message)
    assert len(mailer.sent) == 1
