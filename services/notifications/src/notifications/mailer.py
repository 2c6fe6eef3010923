"""Email adapters: the ``Mailer`` port, SMTP through aiosmtplib, Resend's HTTP API through
the ``resend`` SDK, and a recording fake.

Errors leave an adapter as ``PermanentDeliveryError`` (retrying can't help, e.g. the address
is refused with a 5xx) or ``TransientDeliveryError`` (anything else: retried, then
dead-lettered). Their messages carry SMTP codes only, never addresses: they end up in logs,
in the ``last_error`` column and in dead-letter headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.charset
import email.policy
import email.utils
import time
import uuid
from dataclasses import dataclass, field
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Protocol

import aiosmtplib

from .domain import RenderedEmail
from .settings import Settings


class DeliveryError(Exception):
    """A message could not be handed to the provider (message free of personal data)."""


class PermanentDeliveryError(DeliveryError):
    """The provider refused the message for good; sending it again would fail again."""


class TransientDeliveryError(DeliveryError):
    """The provider could not take the message now; a retry may succeed."""


class Mailer(Protocol):
    async def send(self, message: OutgoingEmail) -> str | None:
        """Hand ``message`` to the provider (from ``MAIL_FROM``); returns the provider's
        message id when it has one."""
        ...

    async def close(self) -> None:
        """Release what the adapter holds open (connections); called once at shutdown."""
        ...


def message_id(delivery_id: uuid.UUID, domain: str = "dropwave.notifications") -> str:
    """The Message-ID of a delivery: the same on every retry, so a resend can be spotted."""
    return f"<{delivery_id}@{domain}>"


def delivery_id_of(message: Message) -> uuid.UUID | None:
    """Inverse of :func:`message_id` (None for other Message-IDs)."""
    value = message.get("Message-ID", "")
    try:
        return uuid.UUID(str(value).strip().strip("<>").split("@", 1)[0])
    except ValueError:
        return None


# How the wire form is written: the email package's compat32 generator with no folding.
# The modern ``email.policy.default`` parses every header it is given into a token tree and
# refolds it on output: about 2 ms of CPU per message here, the fan-out's largest cost
# (issue 15). compat32 writes strings; with no line-length limit a long ``List-Unsubscribe``
# stays one plain ``<https://...>`` (RFC 8058: clients do not decode RFC 2047 words in it),
# and non-ASCII subjects are still RFC 2047 encoded. Lines stay far below SMTP's 998.
class _WirePolicy(email.policy.Compat32):
    """compat32 writing a one-line ASCII value as it is: for such a value compat32's
    ``Header`` round trip returns it unchanged, at ~6 us a header, a tenth of the fan-out's
    CPU (issue 15). Anything else (an encoded, folded subject) goes the usual way."""

    def fold_binary(self, name: str, value: str) -> bytes:
        if isinstance(value, str) and value.isascii() and "\r" not in value and "\n" not in value:
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


_WIRE = _WirePolicy(linesep="\r\n", max_line_length=0)
# Bodies as quoted-printable UTF-8: readable, 7-bit safe, and not base64 (which spam
# filters hold against plain text).
_UTF8_QP = email.charset.Charset("utf-8")
_UTF8_QP.body_encoding = email.charset.QP


@dataclass(frozen=True)
class OutgoingEmail:
    """One message to one recipient, as the worker hands it to a mailer: each adapter
    builds its own form (SMTP: MIME bytes; Resend: its JSON), so none parses another's."""

    to: str
    subject: str
    text: str
    html: str
    delivery_id: uuid.UUID
    unsubscribe_url: str | None = None

    @property
    def message_id(self) -> str:
        return message_id(self.delivery_id)

    def as_bytes(self, mail_from: str) -> bytes:
        """The RFC 5322 message, ``multipart/alternative`` (text, then HTML), CRLF lines."""
        # A boundary of our own: "=_" never occurs in quoted-printable text (a literal "="
        # is written "=3D"), so it cannot clash with a part, and the generator skips making
        # one (a random token, then a regex compiled per message to search every part).
        message = MIMEMultipart("alternative", boundary=f"=_{uuid.uuid4().hex}", policy=_WIRE)
        message["From"] = mail_from
        message["To"] = self.to
        message["Subject"] = _encoded(self.subject)
        message["Message-ID"] = self.message_id
        message["Date"] = email.utils.formatdate(usegmt=True)
        if self.unsubscribe_url is not None:
            # RFC 8058 one-click: clients POST to the URL; a GET only shows a confirmation
            # page, so link scanners change nothing.
            message["List-Unsubscribe"] = f"<{self.unsubscribe_url}>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.attach(MIMEText(self.text, "plain", _UTF8_QP, policy=_WIRE))  # type: ignore[arg-type]
        message.attach(MIMEText(self.html, "html", _UTF8_QP, policy=_WIRE))  # type: ignore[arg-type]
        return message.as_bytes(policy=_WIRE)

    def parsed(self, mail_from: str) -> EmailMessage:
        """The wire form read back as a mail store keeps it (LF line ends): what tests and
        fakes inspect."""
        wire = self.as_bytes(mail_from).replace(b"\r\n", b"\n")
        parsed = email.message_from_bytes(wire, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


def _encoded(value: str) -> str:
    """ASCII as is; anything else as RFC 2047 UTF-8 encoded words of at most 75 characters,
    folded (the generator does not fold, see ``_WIRE``)."""
    if value.isascii():
        return value
    return Header(value, "utf-8", maxlinelen=76, header_name="Subject").encode(linesep="\r\n")


def compose(
    rendered: RenderedEmail,
    *,
    to: str,
    delivery_id: uuid.UUID,
    unsubscribe_url: str | None = None,
) -> OutgoingEmail:
    """The message of a delivery, identified by its id (the same on every retry)."""
    return OutgoingEmail(
        to=to,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        delivery_id=delivery_id,
        unsubscribe_url=unsubscribe_url,
    )


@dataclass
class _Connection:
    smtp: aiosmtplib.SMTP
    messages: int = 0
    idle_since: float = field(default_factory=time.monotonic)


class SmtpMailer:
    """Sends through an SMTP server (the dev sink, or a provider's SMTP relay), reusing
    connections across a worker's batch.

    Connecting costs a TCP (and STARTTLS) handshake, EHLO and AUTH: more than the message
    itself. So open connections are kept in a small pool (at most ``smtp_max_connections``
    per process, each carrying one message at a time) and reused. A connection is dropped,
    and the next send connects afresh, after any error (a refused recipient excepted: the
    envelope was reset, the session is sound), once the server has closed it, after
    ``smtp_max_messages_per_connection`` messages and when idle for ``smtp_idle_timeout_s``
    (servers end idle sessions; a stale one is not tried). Each message's outcome is still
    decided by its own reply to DATA and reported as before, so reuse changes nothing about
    retries or exactly-once (a failed message is retried later with the same Message-ID).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._idle: list[_Connection] = []  # most recently used last
        self._slots = asyncio.Semaphore(settings.smtp_max_connections)
        self.connections_opened = 0  # for tests and the benchmark

    async def send(self, message: OutgoingEmail) -> str | None:
        wire = message.as_bytes(self.settings.mail_from)
        sender = email.utils.parseaddr(self.settings.mail_from)[1]
        async with self._slots:
            try:
                conn = await self._checkout()
            except (aiosmtplib.SMTPException, OSError) as exc:
                raise _delivery_error(exc) from None
            reusable = False
            try:
                await conn.smtp.sendmail(sender, [message.to], wire)
                reusable = True
            except aiosmtplib.SMTPRecipientsRefused as exc:
                reusable = True  # aiosmtplib sent RSET: the session is clean
                raise _delivery_error(exc) from None
            except (aiosmtplib.SMTPException, OSError) as exc:
                raise _delivery_error(exc) from None
            finally:
                conn.messages += 1
                self._checkin(conn, reusable)
        return None

    async def close(self) -> None:
        """Say goodbye on every idle connection (at shutdown)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await conn.smtp.quit()
            conn.smtp.close()

    async def _checkout(self) -> _Connection:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if conn.smtp.is_connected and now - conn.idle_since < self.settings.smtp_idle_timeout_s:
                return conn
            conn.smtp.close()  # closed by the server, or idle too long to trust
        s = self.settings
        smtp = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            start_tls=s.smtp_starttls,
            use_tls=False,
            timeout=s.smtp_timeout_s,
        )
        try:
            await smtp.connect()
        except BaseException:
            smtp.close()
            raise
        self.connections_opened += 1
        return _Connection(smtp)

    def _checkin(self, conn: _Connection, reusable: bool) -> None:
        if (
            reusable
            and conn.smtp.is_connected
            and conn.messages < self.settings.smtp_max_messages_per_connection
        ):
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            # No QUIT: after an error the session's state is unknown; just hang up.
            conn.smtp.close()


def _delivery_error(exc: BaseException) -> DeliveryError:
    """The adapter's error for an aiosmtplib/network one, with codes only: server replies
    may echo addresses."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = sorted({e.code for e in exc.recipients})
        error = f"recipient refused: SMTP {', '.join(map(str, codes))}"
        if all(code >= 500 for code in codes):
            return PermanentDeliveryError(error)
        return TransientDeliveryError(error)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return TransientDeliveryError(f"{type(exc).__name__}: SMTP {exc.code}")
    return TransientDeliveryError(type(exc).__name__)


class ResendMailer:
    """Sends through Resend's HTTP API (the ``resend`` SDK, async client).

    The delivery id is Resend's idempotency key: a retry after a crash between Resend
    accepting and us recording it is dropped by Resend (keys live 24 h) instead of sent twice.
    """

    def __init__(self, settings: Settings) -> None:
        if settings.resend_api_key is None:
            raise ValueError("EMAIL_PROVIDER=resend needs RESEND_API_KEY")
        self.settings = settings

    async def send(self, message: OutgoingEmail) -> str | None:
        import resend
        from resend import exceptions as resend_errors

        # The SDK is configured through module globals; one provider per process.
        assert self.settings.resend_api_key is not None
        resend.api_key = self.settings.resend_api_key.get_secret_value()
        resend.api_url = self.settings.resend_api_url.rstrip("/")
        headers = {"Message-ID": message.message_id}
        if message.unsubscribe_url is not None:
            headers["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        params: resend.Emails.SendParams = {
            "from": self.settings.mail_from,
            "to": [message.to],
            "subject": message.subject,
            "text": message.text,
            "html": message.html,
            "headers": headers,
        }
        options: resend.Emails.SendOptions = {"idempotency_key": f"dropwave-{message.delivery_id}"}
        try:
            sent = await resend.Emails.send_async(params, options)
        except (resend_errors.RateLimitError, resend_errors.ApplicationError) as exc:
            raise TransientDeliveryError(f"resend {exc.code}") from None
        except resend_errors.ResendError as exc:
            # 4xx other than 429: the request itself is wrong (address, key): retrying won't help.
            raise PermanentDeliveryError(f"resend {exc.code}") from None
        except Exception as exc:  # network errors of the HTTP client
            raise TransientDeliveryError(f"resend {type(exc).__name__}") from None
        sid = sent.get("id") if isinstance(sent, dict) else None
        return str(sid) if sid else None

    async def close(self) -> None:
        """Nothing held open: the SDK's HTTP client is per request."""
