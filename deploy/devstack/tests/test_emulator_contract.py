"""The Stripe emulator pinned to Stripe's documented behaviour, for each call payments makes
beyond localstripe's own (Connect, destination charges, saved cards, off-session, refunds).

Each test states what Stripe's API reference says and checks the emulator through the real
``stripe`` SDK, so a test passing here means payments' code meets the same answers live.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import stripe
from dropwave_devstack.stripe_emulator import LocalStripe

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStripe]:
    ls = LocalStripe(Path(tmp_path_factory.mktemp("emulator-contract")))
    ls.start()
    try:
        yield ls
    finally:
        ls.stop()


@pytest.fixture(scope="module")
def client(emulator: LocalStripe) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_contract", base_addresses={"api": emulator.api_base}, max_network_retries=0
    )


def _account(client: stripe.StripeClient) -> stripe.Account:
    return client.v1.accounts.create({"type": "express", "metadata": {"creator_id": "u"}})


def test_express_account_starts_unable_to_charge_or_pay_out(client: stripe.StripeClient) -> None:
    # Stripe: a new Express account has charges_enabled/payouts_enabled false until onboarded.
    account = _account(client)
    assert account.id.startswith("acct_")
    assert (account.charges_enabled, account.payouts_enabled, account.details_submitted) == (
        False,
        False,
        False,
    )
    assert client.v1.accounts.retrieve(account.id).metadata["creator_id"] == "u"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.accounts.retrieve("acct_doesnotexist")


def test_account_link_needs_urls_and_an_account(client: stripe.StripeClient) -> None:
    # Stripe: account, type, refresh_url and return_url; the link expires within minutes.
    account = _account(client)
    link = client.v1.account_links.create(
        {
            "account": account.id,
            "type": "account_onboarding",
            "refresh_url": "https://dropwave.test/r",
            "return_url": "https://dropwave.test/d",
        }
    )
    assert link.url.startswith("http")
    assert time.time() < link.expires_at <= time.time() + 3600
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.account_links.create(
            {"account": account.id, "type": "account_onboarding", "refresh_url": "x"}  # type: ignore[typeddict-item]
        )
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.account_links.create(
            {
                "account": "acct_missing",
                "type": "account_onboarding",
                "refresh_url": "https://dropwave.test/r",
                "return_url": "https://dropwave.test/d",
            }
        )


def test_onboarding_enables_the_account(client: stripe.StripeClient, emulator: LocalStripe) -> None:
    account = _account(client)
    flipped = httpx.post(
        f"{emulator.api_base}/_config/accounts/{account.id}",
        json={"charges_enabled": True, "payouts_enabled": False},
    ).json()
    assert (flipped["charges_enabled"], flipped["payouts_enabled"]) == (True, False)
    httpx.get(f"{emulator.api_base}/_config/accounts/{account.id}/onboard").raise_for_status()
    fetched = client.v1.accounts.retrieve(account.id)
    assert fetched.charges_enabled
    assert fetched.payouts_enabled
    assert fetched.details_submitted


def test_destination_charge_echoes_transfer_data_and_fee(client: stripe.StripeClient) -> None:
    # Stripe: transfer_data[destination] + application_fee_amount on a PaymentIntent; the fee
    # cannot exceed the amount and needs a destination (or on_behalf_of).
    account = _account(client)
    customer = client.v1.customers.create({"metadata": {"order_id": "o"}})
    intent = client.v1.payment_intents.create(
        {
            "amount": 2500,
            "currency": "eur",
            "capture_method": "manual",
            "customer": customer.id,
            "setup_future_usage": "off_session",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "transfer_data": {"destination": account.id},
            "application_fee_amount": 125,
            "expand": ["latest_charge"],
        }
    )
    assert intent.status == "requires_capture"
    assert intent.transfer_data is not None
    assert intent.transfer_data.destination == account.id
    assert intent.application_fee_amount == 125
    assert intent.setup_future_usage == "off_session"
    assert intent.customer == customer.id
    assert intent.amount_capturable == 2500
    assert intent.amount_received == 0
    # Stripe: card charges report capture_before (7 days for online card payments).
    charge = intent.latest_charge
    assert isinstance(charge, stripe.Charge)
    capture_before = charge.payment_method_details.card.capture_before  # type: ignore[union-attr]
    assert 6 * 86400 < capture_before - time.time() <= 7 * 86400
    captured = client.v1.payment_intents.capture(intent.id)
    assert (captured.status, captured.amount_received) == ("succeeded", 2500)

    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.create(
            {"amount": 100, "currency": "eur", "application_fee_amount": 5}
        )
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.create(
            {
                "amount": 100,
                "currency": "eur",
                "transfer_data": {"destination": account.id},
                "application_fee_amount": 101,
            }
        )
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.create(
            {"amount": 100, "currency": "eur", "transfer_data": {"destination": "acct_missing"}}
        )


def test_off_session_payment_that_needs_authentication(client: stripe.StripeClient) -> None:
    # Stripe: off_session=true with a card that requires authentication fails with a 402
    # card_error authentication_required; the PaymentIntent is requires_payment_method and
    # can be confirmed on-session by the customer (then 3-D Secure: requires_action).
    customer = client.v1.customers.create({})
    with pytest.raises(stripe.CardError) as failed:
        client.v1.payment_intents.create(
            {
                "amount": 900,
                "currency": "eur",
                "customer": customer.id,
                "payment_method": "pm_card_authenticationRequired",
                "confirm": True,
                "off_session": True,
            }
        )
    assert failed.value.code == "authentication_required"
    error = failed.value.error
    assert error is not None
    assert error.payment_intent is not None
    intent = client.v1.payment_intents.retrieve(error.payment_intent.id)
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error is not None
    assert intent.last_payment_error.code == "authentication_required"
    assert client.v1.payment_intents.confirm(intent.id).status == "requires_action"

    ok = client.v1.payment_intents.create(
        {
            "amount": 900,
            "currency": "eur",
            "customer": customer.id,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "off_session": True,
        }
    )
    assert ok.status == "succeeded"
    assert ok.amount_received == 900
    with pytest.raises(stripe.InvalidRequestError):  # off_session needs confirm=true
        client.v1.payment_intents.create({"amount": 900, "currency": "eur", "off_session": True})


def test_refunds_never_exceed_what_was_captured(client: stripe.StripeClient) -> None:
    # Stripe: a refund's amount is at most the charge's unrefunded amount (amount_too_large),
    # a fully refunded charge refuses more (charge_already_refunded).
    intent = client.v1.payment_intents.create(
        {"amount": 1000, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True}
    )
    assert intent.status == "succeeded"
    first = client.v1.refunds.create(
        {"payment_intent": intent.id, "amount": 600, "reason": "requested_by_customer"}
    )
    assert (first.amount, first.status) == (600, "succeeded")
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create({"payment_intent": intent.id, "amount": 401})
    assert too_much.value.code == "amount_too_large"
    rest = client.v1.refunds.create({"payment_intent": intent.id})
    assert rest.amount == 400
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.refunds.create({"payment_intent": intent.id, "amount": 1})
    assert again.value.code == "charge_already_refunded"


def test_an_uncaptured_authorization_cannot_be_refunded(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(
        {
            "amount": 1000,
            "currency": "eur",
            "capture_method": "manual",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create({"payment_intent": intent.id})


def test_canceling_an_authorization_releases_what_it_held(client: stripe.StripeClient) -> None:
    # Stripe: cancel works from requires_capture; "for PaymentIntents with a status of
    # requires_capture, the remaining amount_capturable is automatically refunded" (the
    # reference's canceled example shows amount_capturable 0); operations then fail.
    intent = client.v1.payment_intents.create(
        {
            "amount": 1200,
            "currency": "eur",
            "capture_method": "manual",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    assert intent.amount_capturable == 1200
    canceled = client.v1.payment_intents.cancel(intent.id)
    assert canceled.status == "canceled"
    assert (canceled.amount_capturable, canceled.amount_received) == (0, 0)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.capture(intent.id)


def test_expired_authorization_is_canceled_automatically(
    client: stripe.StripeClient, emulator: LocalStripe
) -> None:
    # Stripe: an uncaptured PaymentIntent is canceled when its hold expires
    # (cancellation_reason=automatic); capture then fails.
    intent = client.v1.payment_intents.create(
        {
            "amount": 1000,
            "currency": "eur",
            "capture_method": "manual",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": {"order_id": str(uuid.uuid4())},
        }
    )
    httpx.post(f"{emulator.api_base}/_config/payment_intents/{intent.id}/expire").raise_for_status()
    expired = client.v1.payment_intents.retrieve(intent.id)
    assert (expired.status, expired.cancellation_reason) == ("canceled", "automatic")
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.capture(intent.id)


def test_payment_intents_list_pages_with_metadata(client: stripe.StripeClient) -> None:
    # Reconciliation lists PaymentIntents (no search in the emulator) and reads metadata.
    order_id = str(uuid.uuid4())
    client.v1.payment_intents.create(
        {"amount": 100, "currency": "eur", "metadata": {"order_id": order_id}}
    )
    seen = [
        pi.metadata.to_dict().get("order_id")
        for pi in client.v1.payment_intents.list({"limit": 2}).auto_paging_iter()
    ]
    assert order_id in seen


def test_payment_intents_list_by_customer(client: stripe.StripeClient) -> None:
    # Stripe: GET /v1/payment_intents?customer=... "only return PaymentIntents for the
    # customer specified by this customer ID". Payments finds an authorization whose answer
    # was lost this way (the PaymentIntent is made on the order's own Customer).
    mine = client.v1.customers.create({"metadata": {"order_id": "mine"}})
    other = client.v1.customers.create({})
    made = [
        client.v1.payment_intents.create(
            {
                "amount": 700,
                "currency": "eur",
                "capture_method": "manual",
                "customer": mine.id,
                "payment_method": "pm_card_visa",
                "confirm": True,
            }
        ).id
        for _ in range(3)
    ]
    client.v1.payment_intents.create({"amount": 700, "currency": "eur", "customer": other.id})
    client.v1.payment_intents.create({"amount": 700, "currency": "eur"})
    listed = client.v1.payment_intents.list({"customer": mine.id, "limit": 2})
    found = [pi.id for pi in listed.auto_paging_iter()]
    assert sorted(found) == sorted(made)
    assert all(pi.customer == mine.id for pi in listed.data)
    none = client.v1.customers.create({})
    assert client.v1.payment_intents.list({"customer": none.id}).data == []


def test_stripe_js_creates_payment_methods_with_the_publishable_key(
    client: stripe.StripeClient, emulator: LocalStripe
) -> None:
    # Stripe.js: stripe.createPaymentMethod({type: "card", card}) posts the card with the
    # publishable key; the secret key's API then confirms a PaymentIntent with its id.
    script = httpx.get(f"{emulator.api_base}/js.stripe.com/v3/", timeout=10)
    assert script.status_code == 200
    assert "stripe.createPaymentMethod = async" in script.text
    card = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2030", "cvc": "123"}
    created = httpx.post(
        f"{emulator.api_base}/v1/payment_methods",
        content=json.dumps({"key": "pk_test_contract", "type": "card", "card": card}),
        timeout=10,
    )
    assert created.status_code == 200, created.text
    pm = created.json()
    assert pm["id"].startswith("pm_")
    assert pm["card"]["last4"] == "4242"
    assert "number" not in pm["card"]
    intent = client.v1.payment_intents.create(
        {
            "amount": 1500,
            "currency": "usd",
            "capture_method": "manual",
            "payment_method": pm["id"],
            "confirm": True,
        }
    )
    assert intent.status == "requires_capture"
    # Without a publishable (or secret) key: refused, as before.
    refused = httpx.post(
        f"{emulator.api_base}/v1/payment_methods",
        content=json.dumps({"type": "card", "card": card}),
        timeout=10,
    )
    assert refused.status_code == 401


def test_stripe_js_confirms_a_payment_intent_with_a_new_card_and_the_publishable_key(
    client: stripe.StripeClient, emulator: LocalStripe
) -> None:
    # Stripe.js: confirmCardPayment(clientSecret, {payment_method: {card}}) makes the
    # PaymentMethod, then confirms with the publishable key and the intent's client_secret.
    script = httpx.get(f"{emulator.api_base}/js.stripe.com/v3/", timeout=10)
    assert "stripe.confirmCardPayment = async" in script.text
    intent = client.v1.payment_intents.create({"amount": 1500, "currency": "usd"})
    card = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2030", "cvc": "123"}
    pm = httpx.post(
        f"{emulator.api_base}/v1/payment_methods",
        content=json.dumps({"key": "pk_test_contract", "type": "card", "card": card}),
        timeout=10,
    ).json()
    url = f"{emulator.api_base}/v1/payment_intents/{intent.id}/confirm"
    wrong = httpx.post(
        url,
        content=json.dumps(
            {
                "key": "pk_test_contract",
                "client_secret": "pi_x_secret_y",
                "payment_method": pm["id"],
            }
        ),
        timeout=10,
    )
    assert wrong.status_code == 401  # another intent's secret (or none): refused
    confirmed = httpx.post(
        url,
        content=json.dumps(
            {
                "key": "pk_test_contract",
                "client_secret": intent.client_secret,
                "payment_method": pm["id"],
            }
        ),
        timeout=10,
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "succeeded"
