"""Email adapters: the ``Mailer`` port, SMTP through aiosmtplib, Resend's HTTP API through
the ``resend`` SDK, and a recording fake.

Errors leave an adapter as ``PermanentDeliveryError`` (retrying can't help, e.g. the address
is refused with a 5xx) or ``TransientDeliveryError`` (anything else: retried, then
dead-lettered). Their messages carry SMTP codes only, never addresses: they end up in logs,
in the ``last_error`` column and in dead-letter headers.
"""

from __future__ import annotations

import email.utils
import uuid
from email.message import EmailMessage
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
    async def send(self, message: EmailMessage) -> str | None:
        """Hand ``message`` to the provider (``From`` is filled in when missing); returns the
        provider's message id when it has one."""
        ...


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
    message = EmailMessage()
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


class SmtpMailer:
    """Sends through an SMTP server (the dev sink, or a provider's SMTP relay).

    One connection per message: notifications are few per event; pooling can come later.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, message: EmailMessage) -> str | None:
        s = self.settings
        if "From" not in message:
            message["From"] = s.mail_from
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                start_tls=s.smtp_starttls,
                use_tls=False,
                timeout=s.smtp_timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = sorted({e.code for e in exc.recipients})
            error = f"recipient refused: SMTP {', '.join(map(str, codes))}"
            if all(code >= 500 for code in codes):
                raise PermanentDeliveryError(error) from None
            raise TransientDeliveryError(error) from None
        except aiosmtplib.SMTPResponseException as exc:
            # Server replies may echo addresses: keep the code and the exception type only.
            raise TransientDeliveryError(f"{type(exc).__name__}: SMTP {exc.code}") from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TransientDeliveryError(type(exc).__name__) from None
        return None


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


class RecordingMailer:
    """A fake for tests: records messages instead of sending them; can be told to fail."""

    def __init__(self, mail_from: str = "DropWave <no-reply@dropwave.test>") -> None:
        self.mail_from = mail_from
        self.sent: list[EmailMessage] = []
        self.fail_with: DeliveryError | None = None

    async def send(self, message: EmailMessage) -> str | None:
        if self.fail_with is not None:
            raise self.fail_with
        if "From" not in message:
            message["From"] = self.mail_from
        self.sent.append(message)
        return None
