"""SMS adapters behind one port: Twilio's Messages API (the ``twilio`` SDK, async) and a fake
carrier (in memory, optionally one JSON file per message for the dev stack).

Errors leave an adapter as the mailer's ``PermanentDeliveryError`` / ``TransientDeliveryError``
with codes only: a carrier's error text can quote the phone number.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .mailer import PermanentDeliveryError, TransientDeliveryError
from .settings import Settings

TWILIO_API = "https://api.twilio.com"
# Twilio error codes for which a retry cannot help (invalid/unreachable/unsubscribed number).
_PERMANENT_TWILIO_CODES = frozenset({21211, 21214, 21408, 21610, 21612, 21614, 30003, 30005})


@dataclass(frozen=True)
class SmsMessage:
    to: str
    body: str
    delivery_id: uuid.UUID
    status_callback: str | None = None


class SmsSender(Protocol):
    async def send(self, message: SmsMessage) -> str:
        """Hand the message to the carrier; returns the carrier's message id."""
        ...

    async def close(self) -> None: ...


class FileCarrier:
    """Accepts every message (ids ``SM<hex>``); remembers them, and with ``directory`` stores
    each as ``<delivery id>.json`` (written atomically; a resend overwrites, and is counted
    in ``sends``). ``fail_with`` makes the next sends fail."""

    def __init__(self, directory: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.sent: list[SmsMessage] = []
        self.fail_with: Exception | None = None
        self.failures: dict[str, Exception] = {}

    async def send(self, message: SmsMessage) -> str:
        if self.fail_with is not None:
            raise self.fail_with
        if message.to in self.failures:
            raise self.failures[message.to]
        sid = f"SM{message.delivery_id.hex}"
        self.sent.append(message)
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            final = self.directory / f"{message.delivery_id}.json"
            tmp = final.with_suffix(".tmp")
            tmp.write_text(json.dumps({"sid": sid, "to": message.to, "body": message.body}))
            os.replace(tmp, final)
        return sid

    async def close(self) -> None:
        return None


def read_fake_sms(directory: Path | str) -> list[dict[str, str]]:
    """Messages the file carrier (SMS_PROVIDER=file) stored (for tests and the dev stack)."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


class TwilioSms:
    """Twilio's Messages API through the official SDK's async client.

    ``api_base`` points the SDK's HTTP client at another host (a local fake of Twilio's API
    in tests), so the SDK's real request path is exercised. The SDK's HTTP logger prints
    request bodies (the phone number): it gets a logger that is switched off.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_: str | None = None,
        messaging_service_sid: str | None = None,
        api_base: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        if not (from_ or messaging_service_sid):
            raise ValueError("Twilio needs TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_ = from_
        self.messaging_service_sid = messaging_service_sid
        self.api_base = (api_base or TWILIO_API).rstrip("/")
        self.timeout_s = timeout_s
        self._client: Any = None
        self._http: Any = None

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioSms:
        if not settings.twilio_account_sid or settings.twilio_auth_token is None:
            raise ValueError("SMS_PROVIDER=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
        return cls(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            from_=settings.twilio_from,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            api_base=settings.twilio_api_base,
        )

    def _sdk(self) -> Any:
        """The SDK client, built on first use inside the running event loop (aiohttp)."""
        if self._client is None:
            from twilio.http.async_http_client import AsyncTwilioHttpClient  # type: ignore[import-untyped]
            from twilio.rest import Client  # type: ignore[import-untyped]

            quiet = logging.getLogger("notifications.twilio_http")
            quiet.disabled = True  # the SDK logs request bodies (phone numbers) at INFO
            base = self.api_base

            class _Http(AsyncTwilioHttpClient):  # type: ignore[misc]
                async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
                    if url.startswith(TWILIO_API):
                        url = base + url[len(TWILIO_API) :]
                    return await super().request(method, url, *args, **kwargs)

            self._http = _Http(timeout=self.timeout_s, logger=quiet)
            self._client = Client(self.account_sid, self.auth_token, http_client=self._http)
        return self._client

    async def send(self, message: SmsMessage) -> str:
        from twilio.base.exceptions import TwilioRestException  # type: ignore[import-untyped]

        kwargs: dict[str, Any] = {"to": message.to, "body": message.body}
        if self.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.messaging_service_sid
        else:
            kwargs["from_"] = self.from_
        if message.status_callback:
            kwargs["status_callback"] = message.status_callback
        try:
            created = await self._sdk().messages.create_async(**kwargs)
        except TwilioRestException as exc:
            what = f"twilio HTTP {exc.status} code {exc.code}"
            if exc.status == 429 or exc.status >= 500:
                raise TransientDeliveryError(what) from None
            if exc.code in _PERMANENT_TWILIO_CODES or 400 <= exc.status < 500:
                raise PermanentDeliveryError(what) from None
            raise TransientDeliveryError(what) from None
        except Exception as exc:  # aiohttp / network
            raise TransientDeliveryError(f"twilio {type(exc).__name__}") from None
        return str(created.sid)

    async def close(self) -> None:
        if self._http is not None and self._http.session is not None:
            await self._http.session.close()
        self._client = None
        self._http = None


def sms_sender(settings: Settings) -> SmsSender | None:
    """The SMS adapter the settings choose (None: SMS is off)."""
    if settings.sms_provider == "twilio":
        return TwilioSms.from_settings(settings)
    if settings.sms_provider == "file":
        return FileCarrier(settings.sms_file_dir)
    return None
