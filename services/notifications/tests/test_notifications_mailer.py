"""SmtpMailer against a real SMTP server (the dev stack's sink), and the recording fake."""

import asyncio
import email
import email.policy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from dropwave_devstack.ports import free_port
from dropwave_devstack.smtp_sink import SmtpSink
from notifications.domain import RenderedEmail
from notifications.mailer import (
    _WIRE,
    OutgoingEmail,
    SmtpMailer,
    TransientDeliveryError,
    compose,
    delivery_id_of,
    message_id,
)
from notifications.settings import Settings

from .fakes import RecordingMailer

RENDERED = RenderedEmail(
    subject="You're buyer #7 for Café lamp",
    text="You're buyer #7 for Café lamp: your card is on hold.\n",
    html="<p>You're buyer #7 for <b>Café lamp</b>: your card is on hold.</p>\n",
)


def settings(host: str, port: int, **overrides: Any) -> Settings:
    return Settings(
        database_url="postgresql+asyncpg://unused/unused",
        kafka_bootstrap_servers="127.0.0.1:1",
        smtp_host=host,
        smtp_port=port,
        mail_from="DropWave <no-reply@dropwave.test>",
        smtp_timeout_s=5,
        notifications_link_secret="x" * 32,
        **overrides,
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
    [recorded] = mailer.sent
    assert recorded["Message-ID"] == message.message_id
    assert recorded["From"] == mailer.mail_from
    mailer.fail_with = TransientDeliveryError("SMTPServerDisconnected")
    with pytest.raises(TransientDeliveryError):
        await mailer.send(message)
    assert len(mailer.sent) == 1


class CountingServer:
    """An in-process SMTP server that tells connections apart, can refuse the next
    messages with a 451 and can hang up on its clients."""

    def __init__(self) -> None:
        self.sessions: list[Any] = []  # one per client connection
        self.servers: list[Any] = []
        self.message_ids: list[str] = []
        self.fail_next = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if session not in self.sessions:
            self.sessions.append(session)
            self.servers.append(server)
        if self.fail_next > 0:
            self.fail_next -= 1
            return "451 4.3.0 try again later"
        parsed = email.message_from_bytes(envelope.original_content or envelope.content)
        self.message_ids.append(str(parsed["Message-ID"]))
        return "250 OK"

    def hang_up(self) -> None:
        """Close every connection from the server side (as an idle timeout would)."""
        for server in self.servers:
            if server.transport is not None:
                server._loop.call_soon_threadsafe(server.transport.close)


@pytest.fixture
def counting() -> Iterator[tuple[CountingServer, int]]:
    server = CountingServer()
    port = free_port()
    controller = Controller(server, hostname="127.0.0.1", port=port)
    controller.start()
    yield server, port
    controller.stop()


def message() -> OutgoingEmail:
    return compose(RENDERED, to="buyer@example.com", delivery_id=uuid.uuid4())


async def test_a_batch_reuses_connections(counting: tuple[CountingServer, int]) -> None:
    server, port = counting
    mailer = SmtpMailer(settings("127.0.0.1", port, smtp_max_connections=3))
    for _ in range(5):
        await mailer.send(message())
    assert len(server.sessions) == 1  # one after the other: one connection
    await asyncio.gather(*(mailer.send(message()) for _ in range(12)))
    assert len(server.sessions) <= 3  # at once: never more than the pool's size
    assert mailer.connections_opened == len(server.sessions)
    assert len(server.message_ids) == len(set(server.message_ids)) == 17
    await mailer.close()


async def test_a_failed_send_drops_its_connection_and_the_next_reconnects(
    counting: tuple[CountingServer, int],
) -> None:
    server, port = counting
    mailer = SmtpMailer(settings("127.0.0.1", port))
    first, refused, third = message(), message(), message()
    await mailer.send(first)
    server.fail_next = 1
    with pytest.raises(TransientDeliveryError, match="SMTP 451"):
        await mailer.send(refused)
    await mailer.send(third)
    assert len(server.sessions) == 2  # a fresh connection after the failure
    assert server.message_ids == [first.message_id, third.message_id]
    await mailer.send(refused)  # the retry (same Message-ID) goes through, once
    assert server.message_ids.count(refused.message_id) == 1
    await mailer.close()


async def test_a_connection_the_server_closed_is_not_reused(
    counting: tuple[CountingServer, int],
) -> None:
    server, port = counting
    mailer = SmtpMailer(settings("127.0.0.1", port))
    await mailer.send(message())
    server.hang_up()
    await asyncio.sleep(0.2)  # the client notices the close
    await mailer.send(message())  # no error: a new connection
    assert len(server.sessions) == 2
    assert len(server.message_ids) == 2
    await mailer.close()


async def test_connections_are_renewed_after_n_messages_and_when_idle(
    counting: tuple[CountingServer, int],
) -> None:
    server, port = counting
    mailer = SmtpMailer(
        settings("127.0.0.1", port, smtp_max_messages_per_connection=2, smtp_idle_timeout_s=0.2)
    )
    for _ in range(5):
        await mailer.send(message())
    assert len(server.sessions) == 3  # 2 + 2 + 1
    await asyncio.sleep(0.3)
    await mailer.send(message())  # the idle one is not trusted any more
    assert len(server.sessions) == 4
    assert len(server.message_ids) == 6
    await mailer.close()


LONG_UNSUBSCRIBE = (
    "https://drops.dropwave.dev/api/v1/notifications/unsubscribe?token="
    + "0f4c2a9e-31d5-4a57-9a43-8c1b8f3f6d2e.Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5"
)


def unsubscribe_headers(raw: bytes) -> list[bytes]:
    """The raw List-Unsubscribe* header lines (with continuation lines) of a message."""
    head = raw.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    out: list[bytes] = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and out:
            out[-1] += b"\n" + line
        else:
            out.append(line)
    return [h for h in out if h.lower().startswith(b"list-unsubscribe")]


async def test_list_unsubscribe_is_a_plain_bracketed_https_url_on_the_wire(
    sink: SmtpSink,
) -> None:
    """RFC 8058: the bytes the SMTP server receives carry ``<https://...>`` as is (a long URL
    must not be folded into RFC 2047 encoded words, which clients do not decode here)."""
    assert len(f"List-Unsubscribe: <{LONG_UNSUBSCRIBE}>") > 78  # longer than a folded line
    sink.clear()
    message = compose(
        RENDERED, to="buyer@example.com", delivery_id=uuid.uuid4(), unsubscribe_url=LONG_UNSUBSCRIBE
    )
    await SmtpMailer(settings(sink.host, sink.port)).send(message)
    [path] = sorted(sink.maildir.glob("*.eml"))
    raw = path.read_bytes()
    assert unsubscribe_headers(raw) == [
        f"List-Unsubscribe: <{LONG_UNSUBSCRIBE}>".encode(),
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
    ]
    assert b"=?" not in b"".join(unsubscribe_headers(raw))
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["List-Unsubscribe"] == f"<{LONG_UNSUBSCRIBE}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # Other headers still fold and encode as usual.
    assert parsed["Subject"] == RENDERED.subject
    assert message.as_bytes("a@b.example").count(f"<{LONG_UNSUBSCRIBE}>".encode()) == 1


@pytest.mark.parametrize(
    "value",
    [
        "DropWave <drops@dropwave.example>",
        "<https://drops.example/api/v1/notifications/unsubscribe?token=" + "t" * 300 + ">",
        "  spaced   out\tvalue ",
        "",
        "=?utf-8?q?Caf=C3=A9?=\r\n =?utf-8?q?_au_lait?=",
        "Café",
    ],
    ids=["address", "long-url", "whitespace", "empty", "folded-encoded", "non-ascii"],
)
def test_the_wire_policy_writes_headers_as_compat32_does(value: str) -> None:
    """The fast path for one-line ASCII values changes no byte of what compat32 writes."""
    compat32 = email.policy.compat32.clone(linesep="\r\n", max_line_length=0)
    assert _WIRE.fold_binary("Subject", value) == compat32.fold_binary("Subject", value)
