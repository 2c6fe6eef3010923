"""The Stripe adapter: every call payments makes to Stripe is a method of
:class:`StripeGateway` (the official SDK's ``StripeClient`` behind it), each with an
idempotency key derived from what it is about, so a retry never acts twice.

Declines come back as results; everything transient (network errors, 429, 5xx) propagates
as ``stripe.StripeError`` so the caller retries with the same idempotency key: the
settlement worker's durable queue for authorizations, captures and releases (SDK retries
off there, ``max_network_retries=0``, so every attempt is paced by the shared limiter).
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import stripe
from dropwave_runtime.rate_limit import PgRateLimiter
from sqlalchemy.ext.asyncio import AsyncEngine
from stripe import RequestOptions
from stripe.params import PaymentIntentCreateParams

from .domain import (
    AuthorizationResult,
    authorization_idempotency_key,
    capture_idempotency_key,
    declined,
    hold_gone,
    outcome_of_intent_status,
    release_idempotency_key,
)
from .metrics import STRIPE_REQUESTS, stripe_outcome, stripe_resource
from .settings import Settings


@dataclass(frozen=True)
class AuthorizationRequest:
    """What authorizing an order needs (built from ``OrderPlaced``)."""

    order_id: uuid.UUID
    campaign_id: uuid.UUID
    amount_cents: int
    currency: str
    payment_method_id: str | None
    destination_account: str | None = None
    """The creator's connected account: a destination charge (``transfer_data``)."""
    application_fee_cents: int | None = None
    """The platform fee kept from a destination charge (``application_fee_amount``)."""
    save_card: bool = False
    """Save the card on a Customer for off-session use past the authorization window."""


Pace = Callable[[], Awaitable[None]]
"""Waits for the next slot of the shared Stripe rate limit (``PgRateLimiter.acquire``)."""


def stripe_budget(engine: AsyncEngine, settings: Settings) -> PgRateLimiter:
    """The one Stripe budget of every instance and every caller, workers and operator
    commands alike (ADR 0005): a row in payments' database."""
    return PgRateLimiter(
        engine, "stripe", settings.stripe_rate_limit, settings.stripe_rate_limit_burst
    )


class _MeteredHTTP(stripe.AIOHTTPClient):
    """The SDK's aiohttp client, counting every attempt (``dropwave_stripe_requests_total``).

    aiohttp rather than the SDK's default httpx: a PaymentIntent create costs 1.3 ms of CPU
    through it against 4.8-5.3 ms through httpx (measured here, the SDK's work included),
    and a viral drop's authorizations are bound by payments' CPU before the rate limit."""

    def __init__(self, timeout_s: float, trace_configs: Sequence[aiohttp.TraceConfig]) -> None:
        super().__init__(timeout=aiohttp.ClientTimeout(total=timeout_s))
        self._trace_configs = list(trace_configs)
        self._made: aiohttp.ClientSession | None = None

    @property
    def _session(self) -> aiohttp.ClientSession:
        """Made at the first request, in the running loop (never at import or wiring), as
        the SDK makes it (Stripe's CA bundle) plus the tracing's trace configs."""
        if self._made is None:
            tls = ssl.create_default_context(cafile=stripe.ca_bundle_path)
            self._made = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=tls), trace_configs=self._trace_configs
            )
        return self._made

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        resource = stripe_resource(url)
        try:
            content, status, response_headers = await super().request_async(
                method, url, headers, post_data
            )
        except Exception:
            STRIPE_REQUESTS.labels(method.upper(), resource, "network_error").inc()
            raise
        STRIPE_REQUESTS.labels(method.upper(), resource, stripe_outcome(status)).inc()
        return content, status, response_headers


class StripeGateway:
    """Payments' calls to Stripe (or to an emulator at ``api_base``).

    ``client`` is the raw SDK client, for tests that play Stripe's or the buyer's side;
    payments' own code calls the methods."""

    def __init__(
        self,
        secret_key: str,
        *,
        api_base: str | None = None,
        max_network_retries: int = 2,
        timeout_s: float = 30.0,
        pace: Pace | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
    ) -> None:
        self._pace = pace
        self._http = _MeteredHTTP(timeout_s, trace_configs)
        self.client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=self._http,
            max_network_retries=max_network_retries,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        pace: Pace | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
    ) -> StripeGateway:
        return cls(
            settings.stripe_secret_key.get_secret_value(),
            api_base=settings.stripe_api_base,
            max_network_retries=settings.stripe_max_network_retries,
            timeout_s=settings.stripe_timeout_s,
            pace=pace,
            trace_configs=trace_configs,
        )

    async def _paced(self) -> None:
        if self._pace is not None:
            await self._pace()

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    async def customer(self, order_id: uuid.UUID, *, max_network_retries: int | None = None) -> str:
        """The order's Customer (made once per order: idempotency key ``customer:<order>``)."""
        await self._paced()
        # No personal data sent. The key makes it one Customer per order: a retry, or a later
        # look-up of an authorization whose answer was lost, gets the same Customer back.
        customer = await self.client.v1.customers.create_async(
            {"metadata": {"order_id": str(order_id)}},
            _options(f"customer:{order_id}", max_network_retries),
        )
        return customer.id

    async def authorize(
        self,
        order: AuthorizationRequest,
        *,
        customer_id: str | None = None,
        max_network_retries: int | None = None,
    ) -> AuthorizationResult:
        """Create the order's PaymentIntent with manual capture (an authorization only).

        With a payment method it is confirmed at once; without one it stays unconfirmed and
        the client confirms it with the returned ``client_secret``. ``save_card``: on the
        order's Customer (``customer_id``, else made here first). Every attempt sends the
        same idempotency key (``authorize:<order>``): one PaymentIntent per order. Each
        request waits for its slot of the shared Stripe rate limit when the gateway has a
        ``pace``; the settlement worker, which drains the ``authorize`` queue, paces its own
        attempts and passes ``max_network_retries=0`` (the queue retries).
        """
        params: PaymentIntentCreateParams = {
            "amount": order.amount_cents,
            "currency": order.currency,
            "capture_method": "manual",
            # Dashboard payment methods minus redirect-based ones: a server-side confirm
            # then needs no return_url (3-D Secure still comes back as requires_action).
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "metadata": {"campaign_id": str(order.campaign_id), "order_id": str(order.order_id)},
        }
        if order.save_card:
            if customer_id is None:
                customer_id = await self.customer(
                    order.order_id, max_network_retries=max_network_retries
                )
            params["customer"] = customer_id
            params["setup_future_usage"] = "off_session"
        if order.destination_account:
            params["transfer_data"] = {"destination": order.destination_account}
            if order.application_fee_cents:
                params["application_fee_amount"] = order.application_fee_cents
        if order.payment_method_id:
            params["payment_method"] = order.payment_method_id
            params["confirm"] = True
            # capture_before lives on the charge: fetch it in the same call.
            params["expand"] = ["latest_charge"]
        await self._paced()
        try:
            intent = await self.client.v1.payment_intents.create_async(
                params,
                _options(authorization_idempotency_key(order.order_id), max_network_retries),
            )
        except stripe.CardError as exc:
            err = exc.error
            return declined(
                err.payment_intent.id if err is not None and err.payment_intent else None,
                exc.code,
                err.decline_code if err is not None else None,
                exc.user_message,
            )
        except stripe.InvalidRequestError as exc:
            # A payment method id the client sent that Stripe rejects is the buyer's failure,
            # not ours: report it rather than retrying it into the dead-letter topic.
            if exc.param == "payment_method":
                return declined(None, exc.code or "invalid_payment_method", None, None)
            raise
        status = outcome_of_intent_status(intent.status)
        next_action = intent.next_action.type if intent.next_action else None
        return AuthorizationResult(
            status=status,
            payment_intent_id=intent.id,
            client_secret=intent.client_secret,
            next_action=next_action,
            capture_before=_capture_before(intent.latest_charge),
            customer_id=customer_id if order.save_card else None,
            payment_method_id=_id_of(intent.payment_method),
        )

    async def release(
        self,
        payment_intent_id: str,
        order_id: uuid.UUID,
        *,
        max_network_retries: int | None = None,
    ) -> None:
        """Cancel the PaymentIntent, which releases the authorization hold.

        Idempotent: an intent that is already canceled (a retry, or Stripe's own expiry) is
        fine. Any other refusal propagates (the consumer retries, then dead-letters).
        ``max_network_retries=0``: no SDK retries (the settlement queue retries itself, each
        attempt paced by the shared rate limiter).
        """
        await self._cancel(
            payment_intent_id, release_idempotency_key(order_id), max_network_retries
        )

    async def cancel_customer_intents(
        self,
        order_id: uuid.UUID,
        customer_id: str,
        *,
        keep: str | None = None,
        max_network_retries: int | None = None,
    ) -> list[str]:
        """Cancel every PaymentIntent of the order's Customer that is not canceled (or
        captured) yet, except ``keep``; returns the ids cancelled.

        How an authorization whose answer never came is found: the PaymentIntent is always
        made on the order's own Customer, so listing that Customer's PaymentIntents finds
        it whatever happened to the answer. The first one is cancelled with the order's
        ``release:<order>`` key (there is one PaymentIntent per order), any other with its
        own key. Transient errors propagate (the caller retries).
        """
        page = await self.client.v1.payment_intents.list_async(
            {"customer": customer_id, "limit": 100},
            _options(None, max_network_retries),
        )
        found = [
            (intent.created, intent.id, str(intent.status))
            async for intent in page.auto_paging_iter()
        ]
        found.sort()
        cancelled: list[str] = []
        for n, (_, intent_id, status) in enumerate(found):
            if intent_id == keep or status in ("canceled", "succeeded"):
                continue
            key = release_idempotency_key(order_id)
            await self._cancel(
                intent_id, key if n == 0 else f"{key}:{intent_id}", max_network_retries
            )
            cancelled.append(intent_id)
        return cancelled

    async def _cancel(
        self, payment_intent_id: str, idempotency_key: str, max_network_retries: int | None
    ) -> None:
        options = _options(idempotency_key, max_network_retries)
        try:
            await self.client.v1.payment_intents.cancel_async(payment_intent_id, options=options)
        except stripe.InvalidRequestError:
            intent = await self.client.v1.payment_intents.retrieve_async(
                payment_intent_id, options=_options(None, max_network_retries)
            )
            if intent.status != "canceled":
                raise

    async def capture(
        self,
        payment_intent_id: str,
        order_id: uuid.UUID,
        *,
        max_network_retries: int | None = None,
    ) -> CaptureResult:
        """Capture the authorized amount (settlement), idempotent per order.

        Transient failures (429, 5xx, timeouts, connection errors) propagate as
        ``stripe.StripeError``: the caller retries with the same idempotency key, so Stripe
        captures at most once. A refusal (the intent was canceled, its hold expired, it was
        already captured under another key) is looked up: a ``succeeded`` intent is a
        capture, anything else a capture failure.
        """
        options = _options(capture_idempotency_key(order_id), max_network_retries)
        try:
            intent = await self.client.v1.payment_intents.capture_async(
                payment_intent_id, options=options
            )
        except (stripe.InvalidRequestError, stripe.CardError) as exc:
            intent = await self.client.v1.payment_intents.retrieve_async(payment_intent_id)
            if intent.status != "succeeded":
                return CaptureResult(
                    captured=False,
                    amount_cents=0,
                    application_fee_cents=None,
                    failure_code=exc.code or f"payment_intent_{intent.status}",
                    message=f"The payment could not be captured (it is {intent.status}).",
                    hold_expired=hold_gone(
                        exc.code, str(intent.status), getattr(intent, "cancellation_reason", None)
                    ),
                )
        if intent.status != "succeeded":  # e.g. processing: not a capture we can count
            return CaptureResult(
                captured=False,
                amount_cents=0,
                application_fee_cents=None,
                failure_code=f"payment_intent_{intent.status}",
                message=f"The payment could not be captured (it is {intent.status}).",
            )
        return CaptureResult(
            captured=True,
            amount_cents=intent.amount_received,
            application_fee_cents=intent.application_fee_amount,
        )

    async def charge_off_session(
        self,
        *,
        order_id: uuid.UUID,
        campaign_id: uuid.UUID,
        amount_cents: int,
        currency: str,
        customer_id: str,
        payment_method_id: str,
        destination_account: str | None,
        application_fee_cents: int | None,
        max_network_retries: int | None = None,
    ) -> OffSessionResult:
        """Charge the saved card without the buyer (``off_session``, automatic capture), once
        the authorization window passed (key ``off-session:<order>``).

        ``authentication_required`` and declines come back as results carrying the
        PaymentIntent's ``client_secret`` when Stripe left one the buyer can confirm.
        """
        params: dict[str, Any] = {
            "amount": amount_cents,
            "currency": currency,
            "customer": customer_id,
            "payment_method": payment_method_id,
            "confirm": True,
            "off_session": True,
            "metadata": {
                "campaign_id": str(campaign_id),
                "order_id": str(order_id),
                "charge": "off_session",
            },
        }
        if destination_account:
            params["transfer_data"] = {"destination": destination_account}
            if application_fee_cents:
                params["application_fee_amount"] = application_fee_cents
        options = _options(f"off-session:{order_id}", max_network_retries)
        try:
            intent = await self.client.v1.payment_intents.create_async(params, options)  # type: ignore[arg-type]
        except stripe.CardError as exc:
            err = exc.error
            failed = err.payment_intent if err is not None else None
            return OffSessionResult(
                succeeded=False,
                payment_intent_id=failed.id if failed is not None else None,
                client_secret=failed.client_secret if failed is not None else None,
                failure_code=exc.code or "card_declined",
                message=exc.user_message or "The saved card could not be charged.",
            )
        if intent.status != "succeeded":
            return OffSessionResult(
                succeeded=False,
                payment_intent_id=intent.id,
                client_secret=intent.client_secret,
                failure_code=f"payment_intent_{intent.status}",
                message="The saved card could not be charged.",
            )
        return OffSessionResult(
            succeeded=True,
            payment_intent_id=intent.id,
            amount_cents=intent.amount_received or amount_cents,
            application_fee_cents=intent.application_fee_amount,
        )

    async def cancel_pay_later(self, payment_intent_id: str, order_id: uuid.UUID) -> bool:
        """Cancel an unpaid pay-later PaymentIntent so its link stops working (key
        ``pay-later-expired:<order>``); False when Stripe says it cannot be canceled (already
        canceled, or paid meanwhile: the webhook tells)."""
        try:
            await self.client.v1.payment_intents.cancel_async(
                payment_intent_id, options={"idempotency_key": f"pay-later-expired:{order_id}"}
            )
        except stripe.InvalidRequestError:
            return False
        return True

    # --- Connect ------------------------------------------------------------------------

    async def create_express_account(self, creator_id: str) -> AccountState:
        """One Express account per creator (the idempotency key is the creator's id)."""
        account = await self.client.v1.accounts.create_async(
            {"type": "express", "metadata": {"creator_id": creator_id}},
            {"idempotency_key": f"account:{uuid.uuid5(uuid.NAMESPACE_URL, creator_id)}"},
        )
        return account_state(account)

    async def onboarding_link(
        self, account_id: str, refresh_url: str, return_url: str
    ) -> tuple[str, int]:
        """A fresh single-use onboarding link (``url``, ``expires_at``); links expire in
        minutes, so one is made per request (no idempotency key: each must be new)."""
        link = await self.client.v1.account_links.create_async(
            {
                "account": account_id,
                "type": "account_onboarding",
                "refresh_url": refresh_url,
                "return_url": return_url,
            }
        )
        return link.url, link.expires_at

    # --- refunds --------------------------------------------------------------------------

    async def refund(
        self,
        payment_intent_id: str,
        amount_cents: int,
        idempotency_key: str,
        *,
        reverse_transfer: bool,
    ) -> str:
        """Refund part or all of a captured PaymentIntent; returns the refund id. For a
        destination charge the transfer to the creator is reversed by the same amount.
        Raises :class:`RefundRefusedError` when Stripe refuses it."""
        params: dict[str, Any] = {
            "payment_intent": payment_intent_id,
            "amount": amount_cents,
            "reason": "requested_by_customer",
        }
        if reverse_transfer:
            params["reverse_transfer"] = True
            params["refund_application_fee"] = True
        try:
            created = await self.client.v1.refunds.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": idempotency_key},
            )
        except stripe.InvalidRequestError as exc:
            raise RefundRefusedError(
                exc.code, exc.user_message or "Stripe refused the refund"
            ) from exc
        return created.id

    # --- listing (reconciliation) ---------------------------------------------------------

    async def payment_intents(self, since: datetime | None = None) -> AsyncIterator[Any]:
        """Every PaymentIntent of the account (created at or after ``since``), page by page,
        each page paced like every other call (Stripe search is not used: the emulator
        lacks it and a listing is what a reconciliation wants anyway)."""
        async for intent in self._listing(self.client.v1.payment_intents.list_async, since):
            yield intent

    async def refunds(self, since: datetime | None = None) -> AsyncIterator[Any]:
        """Every refund of the account (created at or after ``since``), page by page."""
        async for item in self._listing(self.client.v1.refunds.list_async, since):
            yield item

    async def _listing(
        self, list_async: Callable[..., Awaitable[Any]], since: datetime | None
    ) -> AsyncIterator[Any]:
        params: dict[str, Any] = {"limit": 100}
        if since is not None:
            params["created"] = {"gte": int(since.timestamp())}
        while True:
            await self._paced()
            page = await list_async(params)
            for item in page.data:
                yield item
            if not page.has_more or not page.data:
                return
            params["starting_after"] = page.data[-1].id


@dataclass(frozen=True)
class CaptureResult:
    """Outcome of capturing one authorization at settlement."""

    captured: bool
    amount_cents: int
    """Captured amount (``amount_received``); 0 when not captured."""
    application_fee_cents: int | None
    """The application fee Stripe reports on the PaymentIntent, if any."""
    failure_code: str | None = None
    message: str | None = None
    hold_expired: bool = False
    """Refused because the authorization's window passed (Stripe canceled it, or said the
    charge expired for capture): the saved card can be charged off-session instead."""


@dataclass(frozen=True)
class OffSessionResult:
    succeeded: bool
    payment_intent_id: str | None
    amount_cents: int = 0
    application_fee_cents: int | None = None
    client_secret: str | None = None
    """For a failure: the PaymentIntent the buyer can still confirm (the pay-later link)."""
    failure_code: str | None = None
    message: str | None = None


class RefundRefusedError(Exception):
    """Stripe refused the refund (e.g. ``amount_too_large``, ``charge_already_refunded``)."""

    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class AccountState:
    account_id: str
    charges_enabled: bool
    payouts_enabled: bool
    details_submitted: bool


def account_state(account: Any) -> AccountState:
    """From an ``Account`` object or an ``account.updated`` webhook's plain dict."""
    data: dict[str, Any] = account if isinstance(account, dict) else account.to_dict()
    return AccountState(
        account_id=str(data.get("id")),
        charges_enabled=bool(data.get("charges_enabled")),
        payouts_enabled=bool(data.get("payouts_enabled")),
        details_submitted=bool(data.get("details_submitted")),
    )


def _id_of(value: Any) -> str | None:
    """The id of an expandable Stripe field (an id string or an expanded object)."""
    if value is None or isinstance(value, str):
        return value
    found = getattr(value, "id", None)
    return found if isinstance(found, str) else None


def _options(idempotency_key: str | None, max_network_retries: int | None) -> RequestOptions:
    options: RequestOptions = {}
    if idempotency_key is not None:
        options["idempotency_key"] = idempotency_key
    if max_network_retries is not None:
        options["max_network_retries"] = max_network_retries
    return options


def _capture_before(charge: Any) -> datetime | None:
    """``latest_charge.payment_method_details.card.capture_before`` when Stripe reports it."""
    if charge is None or isinstance(charge, str):
        return None
    try:
        ts = charge.payment_method_details.card.capture_before
    except (AttributeError, KeyError):
        return None
    return datetime.fromtimestamp(ts, UTC) if isinstance(ts, int) else None


def capture_before_of_charge(charge: Any) -> datetime | None:
    """``payment_method_details.card.capture_before`` of a charge as a plain dict (a webhook's
    ``charge.*`` object, or a PaymentIntent's expanded ``latest_charge``); ``None`` when absent
    (an unexpanded id, a captured charge, not a card)."""
    if not isinstance(charge, dict):
        return None
    card = (charge.get("payment_method_details") or {}).get("card") or {}
    ts = card.get("capture_before") if isinstance(card, dict) else None
    return datetime.fromtimestamp(ts, UTC) if isinstance(ts, int) else None
