"""POST /api/v1/webhooks/stripe: signature check, dedupe by Stripe event id, forward-only."""

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest
from dropwave_contracts.events import PaymentAuthorized, PaymentReleased
from dropwave_contracts.topics import parse_event
from dropwave_devstack.stripe_emulator import LocalStripe
from dropwave_runtime.db import Database, inbox_table, outbox_table
from dropwave_runtime.problems import Problem
from payments.bootstrap import bootstrap
from payments.models import Payment
from payments.settings import Settings
from payments.stripe_gateway import AuthorizationRequest, StripeGateway
from payments.webhooks.routes import verify_stripe_event
from prometheus_client import REGISTRY
from sqlalchemy import func, select

WEBHOOK_SECRET = "whsec_test_payments"
URL = "/api/v1/webhooks/stripe"
Signer = Callable[..., str]


@pytest.fixture
async def client(db_url: str, localstripe: LocalStripe) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=db_url,
        kafka_bootstrap_servers="127.0.0.1:9",  # never contacted: no lifespan here
        stripe_secret_key="sk_test_payments",
        stripe_api_base=localstripe.api_base,
        stripe_webhook_secret=WEBHOOK_SECRET,
        pay_link_secret="pay-link-secret-0123456789",
        auth_jwks_url="http://127.0.0.1:9/jwks.json",
        auth_issuer="https://issuer.test/",
        auth_audience="dropwave-api",
    )
    app = bootstrap(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://payments") as c:
        yield c
    await app.state.runtime.db.dispose()


def stripe_event(
    event_type: str, intent: dict[str, Any], event_id: str | None = None, age_s: int = 0
) -> str:
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()) - age_s,
            "livemode": False,
            "data": {"object": intent},
        }
    )


def intent(
    pi_id: str, status: str, order_id: uuid.UUID | None = None, **extra: Any
) -> dict[str, Any]:
    metadata = {"order_id": str(order_id)} if order_id else {}
    return {
        "id": pi_id,
        "object": "payment_intent",
        "status": status,
        "metadata": metadata,
        **extra,
    }


async def add_payment(db: Database, status: str, pi_id: str | None = None) -> Payment:
    row = Payment(
        order_id=uuid.uuid4(),
        campaign_id=uuid.uuid4(),
        payment_intent_id=pi_id or f"pi_{uuid.uuid4().hex[:14]}",
        status=status,
        amount_cents=1999,
        currency="eur",
        correlation_id="corr-webhook",
    )
    async with db.sessions() as s, s.begin():
        s.add(row)
    return row


async def post(client: httpx.AsyncClient, body: str, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return await client.post(URL, content=body, headers=headers)


async def counts(db: Database) -> tuple[int, int]:
    async with db.sessions() as s:
        inbox = await s.scalar(select(func.count()).select_from(inbox_table))
        out = await s.scalar(select(func.count()).select_from(outbox_table))
    return inbox or 0, out or 0


async def status_of(db: Database, order_id: uuid.UUID) -> str:
    async with db.sessions() as s:
        row = await s.get(Payment, order_id)
    assert row is not None
    return row.status


# --- the signature check alone (no database) ------------------------------------------


def test_verify_accepts_a_stripe_signature(sign: Signer) -> None:
    body = stripe_event("payment_intent.succeeded", intent("pi_1", "succeeded"))
    event = verify_stripe_event(body.encode(), sign(body), WEBHOOK_SECRET)
    assert event["type"] == "payment_intent.succeeded"
    assert event["data"]["object"]["id"] == "pi_1"


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "garbage",
        "t=1,v1=deadbeef",
    ],
)
def test_verify_rejects_missing_or_malformed(signature: str | None) -> None:
    body = stripe_event("payment_intent.succeeded", intent("pi_1", "succeeded"))
    with pytest.raises(Problem) as info:
        verify_stripe_event(body.encode(), signature, WEBHOOK_SECRET)
    assert (info.value.status, info.value.code) == (400, "invalid_signature")


def test_verify_rejects_wrong_secret_stale_and_tampered(sign: Signer) -> None:
    body = stripe_event("payment_intent.succeeded", intent("pi_1", "succeeded"))
    for signature, payload in [
        (sign(body, secret="whsec_other"), body),
        (sign(body, timestamp=int(time.time()) - 301), body),
        (sign(body), body.replace("pi_1", "pi_2")),
    ]:
        with pytest.raises(Problem) as info:
            verify_stripe_event(payload.encode(), signature, WEBHOOK_SECRET)
        assert info.value.code == "invalid_signature"


@pytest.mark.parametrize(
    "body",
    ["not json", "[1, 2]", '{"type": "payment_intent.succeeded"}', '{"id": 7, "type": "x"}'],
)
def test_verify_rejects_a_signed_body_that_is_not_a_stripe_event(sign: Signer, body: str) -> None:
    with pytest.raises(Problem) as info:
        verify_stripe_event(body.encode(), sign(body), WEBHOOK_SECRET)
    assert (info.value.status, info.value.code) == (400, "invalid_payload")


def test_verify_rejects_a_body_that_is_not_utf8(sign: Signer) -> None:
    body = b'{"id": "evt_\xff"}'
    with pytest.raises(Problem) as info:
        verify_stripe_event(body, "t=1,v1=00", WEBHOOK_SECRET)
    assert (info.value.status, info.value.code) == (400, "invalid_payload")


# --- the route, on a migrated database ----------------------------------------------


async def test_missing_and_bad_signatures_are_400_and_change_nothing(
    client: httpx.AsyncClient, db: Database, sign: Signer
) -> None:
    row = await add_payment(db, "requires_action")
    body = stripe_event(
        "payment_intent.amount_capturable_updated",
        intent(row.payment_intent_id or "", "requires_capture", row.order_id),
    )
    for signature in [None, "t=1,v1=00", sign(body, secret="whsec_wrong")]:
        response = await post(client, body, signature)
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "invalid_signature"
    assert await counts(db) == (0, 0)
    assert await status_of(db, row.order_id) == "requires_action"


async def test_capturable_update_authorizes_once(
    client: httpx.AsyncClient, db: Database, sign: Signer
) -> None:
    row = await add_payment(db, "requires_action")
    assert row.payment_intent_id is not None
    body = stripe_event(
        "payment_intent.amount_capturable_updated",
        intent(row.payment_intent_id, "requires_capture", row.order_id),
    )
    for _ in range(2):  # Stripe redelivers: the second one is a no-op
        response = await post(client, body, sign(body))
        assert response.status_code == 200
        assert response.json() == {"received": True}

    assert await status_of(db, row.order_id) == "authorized"
    async with db.sessions() as s:
        payloads = (await s.execute(select(outbox_table.c.payload))).scalars().all()
    [event] = [parse_event(p) for p in payloads]
    assert isinstance(event, PaymentAuthorized)
    assert (event.order_id, event.campaign_id) == (row.order_id, row.campaign_id)
    assert event.payment_intent_id == row.payment_intent_id
    assert (event.amount_cents, event.currency) == (1999, "eur")
    assert event.correlation_id == "corr-webhook"
    assert event.causation_id == json.loads(body)["id"]


async def test_state_never_goes_backwards(
    client: httpx.AsyncClient, db: Database, sign: Signer
) -> None:
    row = await add_payment(db, "authorized")
    pi = row.payment_intent_id or ""
    late_failure = stripe_event(
        "payment_intent.payment_failed",
        intent(pi, "requires_payment_method", row.order_id, last_payment_error={"code": "x"}),
    )
    assert (await post(client, late_failure, sign(late_failure))).status_code == 200
    assert await status_of(db, row.order_id) == "authorized"
    assert (await counts(db))[1] == 0

    canceled = stripe_event("payment_intent.canceled", intent(pi, "canceled", row.order_id))
    assert (await post(client, canceled, sign(canceled))).status_code == 200
    assert await status_of(db, row.order_id) == "released"
    async with db.sessions() as s:
        [payload] = (await s.execute(select(outbox_table.c.payload))).scalars().all()
    assert isinstance(parse_event(payload), PaymentReleased)


async def test_a_webhook_that_changes_nothing_writes_nothing(
    client: httpx.AsyncClient, db: Database, sign: Signer
) -> None:
    """The drop's usual case: the worker recorded Stripe's answer, and the webhooks of the
    same change follow. Acknowledged without an inbox row or anything else written."""
    row = await add_payment(db, "authorized")
    pi = row.payment_intent_id or ""
    before = await counts(db)
    for event_type, status in [
        ("payment_intent.amount_capturable_updated", "requires_capture"),
        ("payment_intent.payment_failed", "requires_payment_method"),  # late: backwards
    ]:
        body = stripe_event(event_type, intent(pi, status, row.order_id))
        assert (await post(client, body, sign(body))).status_code == 200
    charge = {"id": "ch_1", "object": "charge", "payment_intent": pi, "captured": False}
    body = stripe_event("charge.succeeded", charge)  # no capture_before: nothing new
    assert (await post(client, body, sign(body))).status_code == 200
    assert await counts(db) == before
    assert await status_of(db, row.order_id) == "authorized"

    moved = stripe_event("payment_intent.succeeded", intent(pi, "succeeded", row.order_id))
    assert (await post(client, moved, sign(moved))).status_code == 200
    assert await status_of(db, row.order_id) == "captured"
    assert await counts(db) == (before[0] + 1, before[1] + 1)  # its inbox row, its event


async def test_unknown_order_is_retried_later_and_foreign_intents_ignored(
    client: httpx.AsyncClient, db: Database, sign: Signer
) -> None:
    early = stripe_event(
        "payment_intent.succeeded", intent("pi_early", "requires_capture", uuid.uuid4())
    )
    response = await post(client, early, sign(early))
    assert response.status_code == 409
    assert response.json()["code"] == "payment_not_ready"

    foreign = stripe_event("payment_intent.succeeded", intent("pi_foreign", "succeeded"))
    other_type = stripe_event("customer.created", {"id": "cus_1", "object": "customer"})
    for body in (foreign, other_type):
        assert (await post(client, body, sign(body))).status_code == 200
    assert await counts(db) == (1, 0)  # only the foreign intent's event id was recorded


class _Sink:
    """A tiny HTTP server recording what is POSTed to it."""

    def __init__(self) -> None:
        received = self.received = list[tuple[bytes, str | None]]()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((body, self.headers.get("Stripe-Signature")))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    async def wait_for(self, count: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert len(self.received) >= count, self.received


async def test_localstripe_webhooks_verify(
    localstripe: LocalStripe, gateway: StripeGateway
) -> None:
    """What localstripe really sends passes verify_stripe_event: a decline, then a capture."""
    sink = _Sink()
    hook_id = f"payments-{uuid.uuid4().hex[:6]}"
    localstripe.register_webhook(sink.url, WEBHOOK_SECRET, webhook_id=hook_id)
    try:
        declined_request = request("pm_card_chargeCustomerFail")
        authorized_request = request("pm_card_visa")
        declined_order, authorized_order = declined_request.order_id, authorized_request.order_id
        declined = await gateway.authorize(declined_request)
        authorized = await gateway.authorize(authorized_request)
        assert authorized.payment_intent_id is not None
        await gateway.client.v1.payment_intents.capture_async(authorized.payment_intent_id)
        # The emulator is shared by the session: wait for *our* two events, ignore others'.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            mine = [
                e
                for body, sig in list(sink.received)
                if (e := verify_stripe_event(body, sig, WEBHOOK_SECRET))["type"].startswith(
                    "payment_intent."
                )
                and e["data"]["object"]["metadata"].get("order_id")
                in {str(declined_order), str(authorized_order)}
            ]
            if {e["type"] for e in mine} >= {
                "payment_intent.payment_failed",
                "payment_intent.succeeded",
            }:
                break
            await asyncio.sleep(0.05)
    finally:
        # re-registering replaces it: no event type matches any more
        localstripe.register_webhook(sink.url, WEBHOOK_SECRET, webhook_id=hook_id, events=[])
        sink.server.shutdown()

    by_type = {e["type"]: e["data"]["object"] for e in mine}
    # like Stripe, a manual-capture authorization sends amount_capturable_updated
    assert set(by_type) >= {"payment_intent.payment_failed", "payment_intent.succeeded"}
    assert set(by_type) <= {
        "payment_intent.payment_failed",
        "payment_intent.succeeded",
        "payment_intent.amount_capturable_updated",
    }
    failed = by_type["payment_intent.payment_failed"]
    assert failed["status"] == "requires_payment_method"
    assert failed["last_payment_error"]["code"] == "card_declined"
    assert declined.payment_intent_id in (None, failed["id"])
    captured = by_type["payment_intent.succeeded"]
    assert (captured["id"], captured["status"]) == (authorized.payment_intent_id, "succeeded")
    assert captured["metadata"]["order_id"]


def request(payment_method_id: str | None) -> AuthorizationRequest:
    return AuthorizationRequest(uuid.uuid4(), uuid.uuid4(), 1000, "eur", payment_method_id)


async def test_the_hold_window_is_learned_from_the_emulators_charge_webhooks(
    client: httpx.AsyncClient, db: Database, localstripe: LocalStripe, gateway: StripeGateway
) -> None:
    """The buyer confirms client-side (no authorization response tells us ``capture_before``):
    the emulator's real, signed ``charge.succeeded`` gives it; when the window passes, its
    ``charge.expired`` flags the hold, even if ``payment_intent.canceled`` never arrives."""
    sink = _Sink()
    hook_id = f"payments-{uuid.uuid4().hex[:6]}"
    localstripe.register_webhook(sink.url, WEBHOOK_SECRET, webhook_id=hook_id)

    async def delivered(event_type: str, intent_id: str) -> tuple[str, str]:
        """The emulator's delivery of ``event_type`` about ``intent_id``: (body, signature)."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            for body, sig in list(sink.received):
                event = verify_stripe_event(body, sig, WEBHOOK_SECRET)
                obj = event["data"]["object"]
                if event["type"] == event_type and intent_id in (
                    obj.get("payment_intent"),
                    obj.get("id"),
                ):
                    assert sig is not None
                    return body.decode(), sig
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {event_type} for {intent_id}")

    try:
        pending = await gateway.authorize(request(None))  # the client-side flow
        assert pending.payment_intent_id is not None
        assert pending.capture_before is None
        row = await add_payment(db, "requires_action", pending.payment_intent_id)
        pi = pending.payment_intent_id
        confirmed = await gateway.client.v1.payment_intents.confirm_async(
            pi, {"payment_method": "pm_card_visa"}
        )
        assert confirmed.status == "requires_capture"
        for event_type in ("payment_intent.amount_capturable_updated", "charge.succeeded"):
            body, sig = await delivered(event_type, pi)
            assert (await post(client, body, sig)).status_code == 200
        async with db.sessions() as s:
            stored = await s.get(Payment, row.order_id)
        assert stored is not None
        assert stored.status == "authorized"
        assert stored.capture_before is not None
        assert 6 * 86400 < stored.capture_before.timestamp() - time.time() <= 7 * 86400
        assert not stored.hold_expired

        async with httpx.AsyncClient() as http:
            expired = await http.post(f"{localstripe.api_base}/_config/payment_intents/{pi}/expire")
        expired.raise_for_status()
        body, sig = await delivered("charge.expired", pi)
        assert (await post(client, body, sig)).status_code == 200
        async with db.sessions() as s:
            after = await s.get(Payment, row.order_id)
        assert after is not None
        assert (after.status, after.hold_expired) == ("authorized", True)  # not a release
        assert (await counts(db))[1] == 1  # only the PaymentAuthorized: no event for the window
    finally:
        localstripe.register_webhook(sink.url, WEBHOOK_SECRET, webhook_id=hook_id, events=[])
        sink.server.shutdown()


async def test_unknown_order_past_the_grace_period_is_acknowledged_and_logged(
    client: httpx.AsyncClient, db: Database, sign: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    """Not refused forever: past STRIPE_WEBHOOK_UNKNOWN_GRACE_S (1 h by default) after the
    event's created time, a webhook for an order we never recorded is answered 200, counted
    and logged for reconciliation; nothing is recorded."""
    order = uuid.uuid4()
    fresh = stripe_event("payment_intent.succeeded", intent("pi_never", "succeeded", order))
    assert (await post(client, fresh, sign(fresh))).status_code == 409

    unmatched = REGISTRY.get_sample_value(
        "dropwave_payments_webhooks_unmatched_total", {"event_type": "payment_intent.succeeded"}
    )
    stale = stripe_event(
        "payment_intent.succeeded", intent("pi_never", "succeeded", order), age_s=3601
    )
    with caplog.at_level(logging.WARNING, logger="payments.webhooks.routes"):
        response = await post(client, stale, sign(stale))
    assert response.status_code == 200
    assert response.json() == {"received": True}
    [line] = [r for r in caplog.records if "without a payment" in r.getMessage()]
    assert line.__dict__["payment_intent_id"] == "pi_never"
    assert line.__dict__["order_id"] == str(order)
    after = REGISTRY.get_sample_value(
        "dropwave_payments_webhooks_unmatched_total", {"event_type": "payment_intent.succeeded"}
    )
    assert after == (unmatched or 0) + 1
    assert await counts(db) == (0, 0)  # no inbox row, no event
