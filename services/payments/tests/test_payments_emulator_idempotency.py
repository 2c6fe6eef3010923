"""Contract: the emulator honours ``Idempotency-Key`` as Stripe documents it (the test-side
extension in dropwave_devstack.stripe_emulator.idempotency), through the real SDK."""

import uuid

import pytest
import stripe
from payments.stripe_gateway import StripeGateway


async def test_same_key_same_params_replays_the_first_answer(gateway: StripeGateway) -> None:
    key = f"test:{uuid.uuid4()}"
    params: stripe.params.PaymentIntentCreateParams = {
        "amount": 1234,
        "currency": "eur",
        "capture_method": "manual",
        "payment_method": "pm_card_visa",
        "confirm": True,
    }
    first = await gateway.client.v1.payment_intents.create_async(params, {"idempotency_key": key})
    again = await gateway.client.v1.payment_intents.create_async(params, {"idempotency_key": key})
    assert again.id == first.id
    assert again.last_response is not None
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"

    captured = await gateway.client.v1.payment_intents.capture_async(
        first.id, options={"idempotency_key": f"{key}:capture"}
    )
    replay = await gateway.client.v1.payment_intents.capture_async(
        first.id, options={"idempotency_key": f"{key}:capture"}
    )
    assert captured.status == replay.status == "succeeded"
    assert replay.amount_received == 1234  # replayed, not a second capture (that is a 400)
    with pytest.raises(stripe.InvalidRequestError):
        await gateway.client.v1.payment_intents.capture_async(
            first.id, options={"idempotency_key": f"{key}:other"}
        )


async def test_same_key_other_params_is_an_idempotency_error(gateway: StripeGateway) -> None:
    key = f"test:{uuid.uuid4()}"
    await gateway.client.v1.payment_intents.create_async(
        {"amount": 1000, "currency": "eur"}, {"idempotency_key": key}
    )
    with pytest.raises(stripe.IdempotencyError):
        await gateway.client.v1.payment_intents.create_async(
            {"amount": 2000, "currency": "eur"}, {"idempotency_key": key}
        )


async def test_without_a_key_each_request_executes(gateway: StripeGateway) -> None:
    params: stripe.params.PaymentIntentCreateParams = {"amount": 1000, "currency": "eur"}
    a = await gateway.client.v1.payment_intents.create_async(params)
    b = await gateway.client.v1.payment_intents.create_async(params)
    assert a.id != b.id
