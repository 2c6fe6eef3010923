"""The buyer's pay-later link through the API: a capture that fails at settlement opens a
link whose token (on PaymentCaptureFailed and each PaymentReminderIssued) reads what to pay;
an expired, forged, malformed or missing token, or an unknown order, is one 404 problem and
changes nothing. The buyer pays (the SDK's confirm against the emulator, 3-D Secure), the
webhook captures, and the link then reads ``paid``."""

import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from dropwave_contracts.events import PaymentCaptured, PaymentCaptureFailed, PaymentReminderIssued
from dropwave_contracts.topics import parse_event
from dropwave_devstack.stripe_emulator import LocalStripe
from dropwave_runtime.db import Database, outbox_table
from payments.bootstrap import bootstrap
from payments.models import Payment
from payments.pay_later.domain import sign_pay_token, verify_pay_token
from payments.pay_later.handlers import settle_payment
from payments.pay_later.jobs import process_pay_later
from payments.settings import Settings
from payments.stripe_gateway import StripeGateway
from payments.webhooks.handlers import on_payment_intent_webhook
from sqlalchemy import func, select

from ..conftest import expired_hold

PAY_LINK_SECRET = "pay-link-secret-for-the-api-tests"
GRACE_S = 3600


def settings(db_url: str, localstripe: LocalStripe) -> Settings:
    return Settings.model_validate(
        {
            "database_url": db_url,
            "kafka_bootstrap_servers": "127.0.0.1:9",  # never contacted: no lifespan here
            "stripe_secret_key": "sk_test_payments",
            "stripe_api_base": localstripe.api_base,
            "stripe_webhook_secret": "whsec_x",
            "pay_link_secret": PAY_LINK_SECRET,
            "auth_jwks_url": "http://127.0.0.1:9/jwks.json",
            "auth_issuer": "https://issuer.test/",
            "auth_audience": "dropwave-api",
            "pay_later_grace_s": GRACE_S,
            "pay_later_reminder_every_s": 600,
        }
    )


@pytest.fixture
async def client(db_url: str, localstripe: LocalStripe) -> AsyncIterator[httpx.AsyncClient]:
    app = bootstrap(settings(db_url, localstripe))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://payments") as c:
        yield c
    await app.state.runtime.db.dispose()


async def outbox(db: Database) -> list[Any]:
    async with db.sessions() as s:
        payloads = await s.scalars(select(outbox_table.c.payload).order_by(outbox_table.c.id))
        return list(map(parse_event, payloads))


async def failed_capture(db: Database, gateway: StripeGateway) -> PaymentCaptureFailed:
    """An authorization whose hold expired, on a card that needs authentication: the
    off-session charge at settlement fails and opens a pay-later link."""
    order_id = await expired_hold(db, gateway, correlation_id="corr-pay-later")
    async with db.unit_of_work() as uow:
        locked = await uow.session.get(Payment, order_id, with_for_update=True)
        assert locked is not None
        _, event = await settle_payment(
            uow,
            locked,
            gateway,
            grace_s=GRACE_S,
            reminder_every_s=600,
            now=datetime.now(UTC),
            correlation_id="settle",
            causation_id=None,
            pay_link_secret=PAY_LINK_SECRET,
        )
    assert isinstance(event, PaymentCaptureFailed)
    return event


def url(order_id: object) -> str:
    return f"/api/v1/payments/{order_id}/pay-later"


def assert_no_link(r: httpx.Response) -> None:
    assert r.status_code == 404, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == "pay_link_not_found"
    assert "client_secret" not in r.text


async def test_the_token_on_the_event_reads_the_link_until_paid(
    db: Database,
    gateway: StripeGateway,
    localstripe: LocalStripe,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    failed = await failed_capture(db, gateway)
    assert failed.pay_later_until is not None
    assert failed.pay_token is not None
    assert verify_pay_token(
        PAY_LINK_SECRET, failed.order_id, failed.pay_token, datetime.now(UTC)
    ) == failed.pay_later_until.replace(microsecond=0)

    r = await client.get(url(failed.order_id), params={"token": failed.pay_token})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    view = r.json()
    # The storefront's pay page sends it as a header (a query string is logged).
    by_header = await client.get(url(failed.order_id), headers={"X-Pay-Token": failed.pay_token})
    assert by_header.json() == view
    forged = await client.get(url(failed.order_id), headers={"X-Pay-Token": "1." + "A" * 43})
    assert forged.status_code == 404
    assert view == {
        "order_id": str(failed.order_id),
        "campaign_id": str(failed.campaign_id),
        "amount_cents": 1800,
        "currency": "eur",
        "status": "open",
        "pay_later_until": view["pay_later_until"],
        "client_secret": failed.client_secret,
    }
    assert datetime.fromisoformat(view["pay_later_until"]) == failed.pay_later_until

    # A reminder carries a token for the same link.
    s = settings("unused", localstripe)
    counts = await process_pay_later(db, gateway, s, datetime.now(UTC) + timedelta(seconds=601))
    assert counts["reminded"] == 1
    [reminder] = [e for e in await outbox(db) if isinstance(e, PaymentReminderIssued)]
    assert reminder.pay_token is not None
    again = await client.get(url(failed.order_id), params={"token": reminder.pay_token})
    assert again.status_code == 200
    assert again.json()["client_secret"] == failed.client_secret

    # The buyer pays with the client_secret (3-D Secure on-session); the webhook captures.
    intent_id = failed.payment_intent_id
    confirmed = await gateway.client.v1.payment_intents.confirm_async(intent_id)
    assert confirmed.status == "requires_action"
    async with httpx.AsyncClient() as http:
        paid = await http.post(
            f"{localstripe.api_base}/v1/payment_intents/{intent_id}/_authenticate",
            data={"client_secret": view["client_secret"], "success": "true"},
            headers={"Authorization": "Bearer sk_test_payments"},
        )
    assert paid.json()["status"] == "succeeded"
    async with db.unit_of_work() as uow:
        captured = await on_payment_intent_webhook(
            uow, "evt_paid_later", "payment_intent.succeeded", paid.json()
        )
    assert isinstance(captured, PaymentCaptured)
    done = (await client.get(url(failed.order_id), params={"token": failed.pay_token})).json()
    assert (done["status"], done["client_secret"]) == ("paid", None)
    # Never logged by the service (the test's own HTTP client logs its requests).
    service_logs = [r.getMessage() for r in caplog.records if r.name != "httpx"]
    assert not [m for m in service_logs if failed.pay_token in m]


async def test_bad_tokens_and_unknown_orders_are_one_404_and_change_nothing(
    db: Database, gateway: StripeGateway, client: httpx.AsyncClient
) -> None:
    failed = await failed_capture(db, gateway)
    assert failed.pay_token is not None
    assert failed.pay_later_until is not None
    expiry, signature = failed.pay_token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    other = uuid.uuid4()
    past = datetime.now(UTC) - timedelta(seconds=1)
    async with db.sessions() as s:
        before = await s.scalar(select(func.count()).select_from(outbox_table))

    elsewhere = sign_pay_token("another-secret-0123", failed.order_id, failed.pay_later_until)
    expired = sign_pay_token(PAY_LINK_SECRET, failed.order_id, past)
    attempts: list[tuple[object, dict[str, str]]] = [
        (failed.order_id, {"token": f"{expiry}.{flipped}"}),  # forged
        (failed.order_id, {"token": elsewhere}),  # signed with another key
        (failed.order_id, {"token": expired}),
        (failed.order_id, {"token": "not-a-token"}),  # malformed
        (failed.order_id, {"token": ""}),
        (failed.order_id, {}),  # missing
        (other, {"token": failed.pay_token}),  # another order's token
        (other, {"token": sign_pay_token(PAY_LINK_SECRET, other, failed.pay_later_until)}),
        ("not-a-uuid", {"token": failed.pay_token}),
    ]
    for order_id, params in attempts:
        assert_no_link(await client.get(url(order_id), params=params))

    async with db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(outbox_table)) == before
        row = await s.get(Payment, failed.order_id)
    assert row is not None
    assert row.status == "capture_failed"


async def test_a_link_given_up_on_is_gone(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe, client: httpx.AsyncClient
) -> None:
    """After the grace period the link is expired (the token too; even a token that were
    still valid reads nothing)."""
    failed = await failed_capture(db, gateway)
    s = settings("unused", localstripe)
    counts = await process_pay_later(db, gateway, s, datetime.now(UTC) + timedelta(hours=2))
    assert counts["expired"] == 1
    assert_no_link(await client.get(url(failed.order_id), params={"token": failed.pay_token}))
