"""Stripe adapter for Connect, saved cards, off-session charges, refunds and listing: plain
calls on the gateway's ``StripeClient`` (the official SDK), each with an idempotency key
derived from what it is about, so a retry never acts twice.

Declines come back as results; transient errors (network, 429, 5xx) propagate as
``stripe.StripeError`` for the caller to retry with the same key.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import stripe


def _id_of(value: Any) -> str | None:
    """The id of an expandable Stripe field (an id string or an expanded object)."""
    if value is None or isinstance(value, str):
        return value
    found = getattr(value, "id", None)
    return found if isinstance(found, str) else None


async def create_customer(
    client: stripe.StripeClient, order_id: uuid.UUID, *, max_network_retries: int | None = None
) -> str:
    """A Customer per order to save the buyer's card on (no personal data sent). The key
    ``customer:<order_id>`` makes it one Customer per order: a retry, or a later look-up of
    an authorization whose answer was lost, gets the same Customer back."""
    options: dict[str, Any] = {"idempotency_key": f"customer:{order_id}"}
    if max_network_retries is not None:
        options["max_network_retries"] = max_network_retries
    customer = await client.v1.customers.create_async(
        {"metadata": {"order_id": str(order_id)}},
        options,  # type: ignore[arg-type]
    )
    return customer.id


# --- Connect ------------------------------------------------------------------------------


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


async def create_express_account(client: stripe.StripeClient, creator_id: str) -> AccountState:
    """One Express account per creator (the idempotency key is the creator's id)."""
    account = await client.v1.accounts.create_async(
        {"type": "express", "metadata": {"creator_id": creator_id}},
        {"idempotency_key": f"account:{uuid.uuid5(uuid.NAMESPACE_URL, creator_id)}"},
    )
    return account_state(account)


async def onboarding_link(
    client: stripe.StripeClient, account_id: str, refresh_url: str, return_url: str
) -> tuple[str, int]:
    """A fresh single-use onboarding link (``url``, ``expires_at``); links expire in minutes,
    so one is made per request (no idempotency key: each must be new)."""
    link = await client.v1.account_links.create_async(
        {
            "account": account_id,
            "type": "account_onboarding",
            "refresh_url": refresh_url,
            "return_url": return_url,
        }
    )
    return link.url, link.expires_at


# --- off-session charges (the authorization window passed) ---------------------------------


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


async def charge_off_session(
    client: stripe.StripeClient,
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
    """Charge the saved card without the buyer (``off_session``, automatic capture).

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
    options: dict[str, Any] = {"idempotency_key": f"off-session:{order_id}"}
    if max_network_retries is not None:
        options["max_network_retries"] = max_network_retries
    try:
        intent = await client.v1.payment_intents.create_async(params, options)  # type: ignore[arg-type]
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


# --- refunds ---------------------------------------------------------------------------------


class RefundRefusedError(Exception):
    """Stripe refused the refund (e.g. ``amount_too_large``, ``charge_already_refunded``)."""

    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(message)
        self.code = code


async def refund(
    client: stripe.StripeClient,
    payment_intent_id: str,
    amount_cents: int,
    idempotency_key: str,
    *,
    reverse_transfer: bool,
) -> str:
    """Refund part or all of a captured PaymentIntent; returns the refund id. For a
    destination charge the transfer to the creator is reversed by the same amount."""
    params: dict[str, Any] = {
        "payment_intent": payment_intent_id,
        "amount": amount_cents,
        "reason": "requested_by_customer",
    }
    if reverse_transfer:
        params["reverse_transfer"] = True
        params["refund_application_fee"] = True
    try:
        created = await client.v1.refunds.create_async(
            params,  # type: ignore[arg-type]
            {"idempotency_key": idempotency_key},
        )
    except stripe.InvalidRequestError as exc:
        raise RefundRefusedError(exc.code, exc.user_message or "Stripe refused the refund") from exc
    return created.id


# --- listing (reconciliation) ------------------------------------------------------------------


async def payment_intents(client: stripe.StripeClient) -> AsyncIterator[Any]:
    """Every PaymentIntent of the account, page by page (Stripe search is not used: the
    emulator lacks it and a full listing is what a reconciliation wants anyway)."""
    page = await client.v1.payment_intents.list_async({"limit": 100})
    async for intent in page.auto_paging_iter():
        yield intent


async def refunds(client: stripe.StripeClient) -> AsyncIterator[Any]:
    """Every refund of the account, page by page (reconciliation of refunded amounts)."""
    page = await client.v1.refunds.list_async({"limit": 100})
    async for item in page.auto_paging_iter():
        yield item


async def retrieve_intent(client: stripe.StripeClient, payment_intent_id: str) -> Any:
    return await client.v1.payment_intents.retrieve_async(payment_intent_id)
