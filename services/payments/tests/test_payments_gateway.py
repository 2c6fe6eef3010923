"""The Stripe adapter against a real localstripe, through the real stripe SDK."""

import uuid

import pytest
import stripe
from dropwave_devstack.stripe_emulator import LocalStripe
from payments.domain import PaymentStatus, authorization_idempotency_key
from payments.stripe_gateway import AuthorizationRequest, StripeGateway


def order(payment_method_id: str | None, amount_cents: int = 2500) -> AuthorizationRequest:
    return AuthorizationRequest(
        order_id=uuid.uuid4(),
        campaign_id=uuid.uuid4(),
        amount_cents=amount_cents,
        currency="eur",
        payment_method_id=payment_method_id,
    )


async def test_visa_is_authorized_not_charged(gateway: StripeGateway) -> None:
    request = order("pm_card_visa")
    result = await gateway.authorize(request)

    assert result.status is PaymentStatus.AUTHORIZED
    assert result.payment_intent_id is not None
    intent = await gateway.client.v1.payment_intents.retrieve_async(result.payment_intent_id)
    assert intent.status == "requires_capture"
    assert intent.capture_method == "manual"
    assert intent.amount == 2500
    assert intent.currency == "eur"
    assert intent.metadata.to_dict() == {
        "campaign_id": str(request.campaign_id),
        "order_id": str(request.order_id),
    }


async def test_declined_card_is_failed_with_code(gateway: StripeGateway) -> None:
    result = await gateway.authorize(order("pm_card_chargeCustomerFail"))

    assert result.status is PaymentStatus.FAILED
    assert result.failure_code == "card_declined"
    assert result.message
    # localstripe sends neither decline_code nor the intent on the error (real Stripe does)
    assert result.decline_code is None


async def test_without_payment_method_the_client_finishes(gateway: StripeGateway) -> None:
    result = await gateway.authorize(order(None))

    assert result.status is PaymentStatus.REQUIRES_ACTION
    assert result.payment_intent_id is not None
    assert result.client_secret is not None
    assert result.client_secret.startswith(result.payment_intent_id)
    intent = await gateway.client.v1.payment_intents.retrieve_async(result.payment_intent_id)
    assert intent.status == "requires_payment_method"
    assert intent.capture_method == "manual"


async def test_3ds_card_requires_action(gateway: StripeGateway) -> None:
    # localstripe knows no pm_card_threeDSecure* ids; a raw 3-D Secure test card works
    pm = await gateway.client.v1.payment_methods.create_async(
        {
            "type": "card",
            "card": {"number": "4000002760003184", "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    result = await gateway.authorize(order(pm.id))

    assert result.status is PaymentStatus.REQUIRES_ACTION
    assert result.client_secret is not None
    assert result.next_action == "use_stripe_sdk"


async def test_unknown_payment_method_on_localstripe_is_raised(gateway: StripeGateway) -> None:
    # localstripe answers a bare 404 without `param`: not attributable to the buyer -> raised
    with pytest.raises(stripe.InvalidRequestError):
        await gateway.authorize(order("pm_does_not_exist"))


async def test_real_stripe_shaped_errors(
    gateway: StripeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shapes localstripe never produces: a decline carrying decline_code and the intent, and
    a rejected payment method (`param=payment_method`)."""
    errors: list[Exception] = [
        stripe.CardError(
            "Your card has insufficient funds.",
            None,
            "card_declined",
            http_status=402,
            json_body={
                "error": {
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": "insufficient_funds",
                    "message": "Your card has insufficient funds.",
                    "payment_intent": {"id": "pi_declined", "object": "payment_intent"},
                }
            },
        ),
        stripe.InvalidRequestError(
            "No such PaymentMethod: 'pm_x'", "payment_method", code="resource_missing"
        ),
        stripe.InvalidRequestError("Invalid currency", "currency", code="parameter_invalid"),
    ]

    async def fake_create(params: object, options: object) -> None:
        raise errors.pop(0)

    monkeypatch.setattr(gateway.client.v1.payment_intents, "create_async", fake_create)

    declined = await gateway.authorize(order("pm_card_visa"))
    assert declined.status is PaymentStatus.FAILED
    assert declined.payment_intent_id == "pi_declined"
    assert (declined.failure_code, declined.decline_code) == ("card_declined", "insufficient_funds")
    assert declined.message == "Your card has insufficient funds."

    rejected = await gateway.authorize(order("pm_x"))
    assert rejected.status is PaymentStatus.FAILED
    assert rejected.failure_code == "resource_missing"

    with pytest.raises(stripe.InvalidRequestError):  # our bug, not the buyer's: retry, DLQ
        await gateway.authorize(order("pm_card_visa"))


async def test_network_errors_propagate() -> None:
    gw = StripeGateway("sk_test_x", api_base="http://127.0.0.1:9", max_network_retries=0)
    try:
        with pytest.raises(stripe.APIConnectionError):
            await gw.authorize(order("pm_card_visa"))
    finally:
        await gw.aclose()


async def test_idempotency_key_is_sent(
    gateway: StripeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """localstripe ignores Idempotency-Key, so check what the SDK is asked to send."""
    seen: dict[str, object] = {}
    service = gateway.client.v1.payment_intents

    async def fake_create(params: object, options: dict[str, object]) -> None:
        seen.update(options)
        raise stripe.APIConnectionError("stop here")

    monkeypatch.setattr(service, "create_async", fake_create)
    request = order("pm_card_visa")
    with pytest.raises(stripe.APIConnectionError):
        await gateway.authorize(request)
    assert seen["idempotency_key"] == authorization_idempotency_key(request.order_id)


async def test_authorizing_waits_for_a_rate_limit_slot_before_each_request(
    localstripe: LocalStripe,
) -> None:
    """Customer + PaymentIntent: two Stripe requests, two slots of the shared limit."""
    slots: list[str] = []

    async def pace() -> None:
        slots.append("slot")

    paced = StripeGateway(
        "sk_test_payments",
        api_base=localstripe.api_base,
        max_network_retries=0,
        pace=pace,
    )
    try:
        result = await paced.authorize(
            AuthorizationRequest(
                order_id=uuid.uuid4(),
                campaign_id=uuid.uuid4(),
                amount_cents=2500,
                currency="eur",
                payment_method_id="pm_card_visa",
                save_card=True,
            )
        )
    finally:
        await paced.aclose()
    assert result.status is PaymentStatus.AUTHORIZED
    assert slots == ["slot", "slot"]


def test_stripe_requests_are_labelled_by_resource_and_outcome() -> None:
    from payments.metrics import stripe_outcome, stripe_resource

    assert stripe_resource("https://api.stripe.com/v1/payment_intents/pi_1/capture") == (
        "payment_intents"
    )
    assert stripe_resource("http://127.0.0.1:9/v1/customers?limit=1") == "customers"
    assert stripe_resource("http://127.0.0.1:9/healthz") == "other"
    assert [stripe_outcome(s) for s in (200, 402, 429, 503)] == [
        "ok",
        "client_error",
        "rate_limited",
        "server_error",
    ]


async def test_every_request_to_stripe_is_counted(gateway: StripeGateway) -> None:
    from prometheus_client import REGISTRY

    def created(resource: str) -> float:
        labels = {"method": "POST", "resource": resource, "outcome": "ok"}
        return REGISTRY.get_sample_value("dropwave_stripe_requests_total", labels) or 0.0

    before = created("payment_intents")
    await gateway.authorize(order("pm_card_visa"))
    assert created("payment_intents") >= before + 1
