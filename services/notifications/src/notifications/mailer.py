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
import email.policy
import email.utils
import re
import time
import uuid
from dataclasses import dataclass, field
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import Policy
from typing import Protocol, cast

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
    async def send(self, message: EmailMessage) -> str | None:
        """Hand ``message`` to the provider (``From`` is filled in when missing); returns the
        provider's message id when it has one."""
        ...

    async def close(self) -> None:
        """Release what the adapter holds open (connections); called once at shutdown."""
        ...


class ListUnsubscribeHeader(UnstructuredHeader):
    """``List-Unsubscribe`` as RFC 2369/8058 want it: ``<https://...>`` in plain ASCII.

    The email package folds a long header without spaces (our unsubscribe URL is longer
    than a 78-character line) into RFC 2047 encoded words (``=?utf-8?q?=3Chttps...?=``),
    which mail clients do not decode in this header: one-click unsubscribe would break. This
    header is folded only between its bracketed URLs, whatever policy serializes it (the
    stored header object folds itself, so aiosmtplib's SMTP policy gets this too).
    """

    _between_urls = re.compile(r"(?<=>)\s*,\s*(?=<)")

    def fold(self, *, policy: Policy) -> str:
        urls = self._between_urls.split(str(self).strip())
        linesep: str = getattr(policy, "linesep", "\n")
        name: str = getattr(self, "name", "List-Unsubscribe")  # set by BaseHeader.init
        return f"{name}: " + f",{linesep} ".join(urls) + linesep


_HEADERS = HeaderRegistry()
# The registry mixes BaseHeader in; typeshed does not know UnstructuredHeader gets it.
_HEADERS.map_to_type("list-unsubscribe", cast(type[BaseHeader], ListUnsubscribeHeader))
# The default policy with our List-Unsubscribe; other headers fold as usual.
MESSAGE_POLICY = email.policy.default.clone(header_factory=_HEADERS)


def message_id(delivery_id: uuid.UUID, domain: str = "dropwave.notifications") -> str:
    """The Message-ID of a delivery: the same on every retry, so a resend can be spotted."""
    return f"<{delivery_id}@{domain}>"


def delivery_id_of(message: EmailMessage) -> uuid.UUID | None:
    """Inverse of :func:`message_id` (None for other Message-IDs)."""
    value = message.get("Message-ID", "")
    try:
        return uuid.UUID(str(value).strip().strip("<>").split("@", 1)[0])
    except ValueError:
        return None


def compose(
    rendered: RenderedEmail,
    *,
    to: str,
    delivery_id: uuid.UUID,
    unsubscribe_url: str | None = None,
) -> EmailMessage:
    """A multipart/alternative message (text, then HTML) identified by the delivery id.

    With ``unsubscribe_url``, RFC 8058 one-click unsubscribe headers are added (mail clients
    POST to the URL; a GET only shows a confirmation page, so link scanners change nothing).
    """
    message = EmailMessage(policy=MESSAGE_POLICY)
    message["To"] = to
    message["Subject"] = rendered.subject
    message["Message-ID"] = message_id(delivery_id)
    message["Date"] = email.utils.formatdate(usegmt=True)
    if unsubscribe_url is not None:
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(rendered.text, subtype="plain", charset="utf-8")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8")
    return message


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

    async def send(self, message: EmailMessage) -> str | None:
        if "From" not in message:
            message["From"] = self.settings.mail_from
        async with self._slots:
            try:
                conn = await self._checkout()
            except (aiosmtplib.SMTPException, OSError) as exc:
                raise _delivery_error(exc) from None
            reusable = False
            try:
                await conn.smtp.send_message(message)
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

    async def send(self, message: EmailMessage) -> str | None:
        import resend
        from resend import exceptions as resend_errors

        # The SDK is configured through module globals; one provider per process.
        assert self.settings.resend_api_key is not None
        resend.api_key = self.settings.resend_api_key.get_secret_value()
        resend.api_url = self.settings.resend_api_url.rstrip("/")
        did = delivery_id_of(message)
        text = message.get_body(("plain",))
        html = message.get_body(("html",))
        headers = {
            k: str(message[k])
            for k in ("Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post")
            if k in message
        }
        params: resend.Emails.SendParams = {
            "from": str(message.get("From") or self.settings.mail_from),
            "to": [str(message["To"])],
            "subject": str(message["Subject"]),
            "text": text.get_content() if isinstance(text, EmailMessage) else "",
            "html": html.get_content() if isinstance(html, EmailMessage) else "",
            "headers": headers,
        }
        options: resend.Emails.SendOptions = {}
        if did is not None:
            options["idempotency_key"] = f"dropwave-{did}"
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
