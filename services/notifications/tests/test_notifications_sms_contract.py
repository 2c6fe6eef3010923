"""One contract, two SMS adapters: the fake carrier and the Twilio adapter (the real SDK,
pointed at a local fake of Twilio's Messages API)."""

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from dropwave_devstack.twilio_emulator import FakeTwilioApi
from notifications.mailer import PermanentDeliveryError, TransientDeliveryError
from notifications.sms import FileCarrier, SmsMessage, SmsSender, TwilioSms

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "twilio-test-auth-token"
INVALID = "+15005550001"
THROTTLED = "+15005550002"
DOWN = "+15005550003"


@dataclass
class Harness:
    sender: SmsSender
    delivered: Callable[[], list[tuple[str, str]]]


@pytest.fixture(params=["fake", "twilio"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "fake":
        carrier = FileCarrier()
        carrier.failures = {
            INVALID: PermanentDeliveryError("fake 400 code 21211"),
            THROTTLED: TransientDeliveryError("fake 429"),
            DOWN: TransientDeliveryError("fake 503"),
        }
        yield Harness(carrier, lambda: [(m.to, m.body) for m in carrier.sent])
        return
    api = FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN).start()
    api.failures = {INVALID: (400, 21211), THROTTLED: (429, 20429), DOWN: (503, 20500)}
    sender = TwilioSms(ACCOUNT_SID, AUTH_TOKEN, from_="+15550001111", api_base=api.base_url)
    try:
        yield Harness(sender, lambda: [(m["To"], m["Body"]) for m in api.messages])
    finally:
        await sender.close()
        api.stop()


def sms(to: str, body: str = "Your hold is released.") -> SmsMessage:
    return SmsMessage(to=to, body=body, delivery_id=uuid.uuid4())


async def test_accepts_and_returns_distinct_message_ids(harness: Harness) -> None:
    first = await harness.sender.send(sms("+15551234567", "You're buyer #1 for Café lamp"))
    second = await harness.sender.send(sms("+15557654321"))
    assert first.startswith("SM")
    assert second.startswith("SM")
    assert first != second
    assert harness.delivered() == [
        ("+15551234567", "You're buyer #1 for Café lamp"),
        ("+15557654321", "Your hold is released."),
    ]


async def test_invalid_number_is_permanent_and_quotes_no_number(harness: Harness) -> None:
    with pytest.raises(PermanentDeliveryError) as info:
        await harness.sender.send(sms(INVALID))
    assert INVALID not in str(info.value)
    assert "21211" in str(info.value)
    assert harness.delivered() == []


@pytest.mark.parametrize("number", [THROTTLED, DOWN])
async def test_rate_limit_and_outage_are_transient(harness: Harness, number: str) -> None:
    with pytest.raises(TransientDeliveryError) as info:
        await harness.sender.send(sms(number))
    assert number not in str(info.value)
    assert info.value.__cause__ is None


async def test_twilio_adapter_sends_status_callback_and_sender(fake_twilio: FakeTwilioApi) -> None:
    sender = TwilioSms(ACCOUNT_SID, AUTH_TOKEN, from_="+15550001111", api_base=fake_twilio.base_url)
    try:
        message = SmsMessage(
            to="+15551234567",
            body="hi",
            delivery_id=uuid.uuid4(),
            status_callback="https://drops.example/api/v1/notifications/twilio/status",
        )
        sid = await sender.send(message)
    finally:
        await sender.close()
    [request] = fake_twilio.messages
    assert request["sid"] == sid
    assert request["From"] == "+15550001111"
    assert request["StatusCallback"] == message.status_callback


async def test_twilio_adapter_with_a_wrong_token_is_permanent(fake_twilio: FakeTwilioApi) -> None:
    sender = TwilioSms(ACCOUNT_SID, "wrong", from_="+15550001111", api_base=fake_twilio.base_url)
    try:
        with pytest.raises(PermanentDeliveryError, match="401"):
            await sender.send(sms("+15551234567"))
    finally:
        await sender.close()


async def test_unreachable_twilio_is_transient() -> None:
    from dropwave_devstack.ports import free_port

    sender = TwilioSms(
        ACCOUNT_SID, AUTH_TOKEN, from_="+1555", api_base=f"http://127.0.0.1:{free_port()}"
    )
    try:
        with pytest.raises(TransientDeliveryError):
            await sender.send(sms("+15551234567"))
    finally:
        await sender.close()
