"""Payments test fixtures: a real localstripe (per session) and a migrated database."""

import hashlib
import hmac
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from dropwave_devstack.faults import FaultProxy
from dropwave_devstack.stripe_emulator import LocalStripe
from dropwave_runtime.db import Database
from dropwave_runtime.rate_limit import PgRateLimiter
from payments.models import Payment
from payments.settlement import SettlementWorker, WorkerConfig
from payments.stripe_gateway import StripeGateway

WEBHOOK_SECRET = "whsec_test_payments"


@pytest.fixture(scope="session")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStripe]:
    emulator = LocalStripe(tmp_path_factory.mktemp("localstripe"))
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
async def gateway(localstripe: LocalStripe) -> AsyncIterator[StripeGateway]:
    gw = StripeGateway("sk_test_payments", api_base=localstripe.api_base, max_network_retries=0)
    yield gw
    await gw.aclose()


@pytest.fixture
def payments_db_url(service_database: Callable[[str], str]) -> str:
    """A fresh database migrated with payments' migrations (root conftest)."""
    return service_database("payments")


@pytest.fixture
async def db(payments_db_url: str) -> AsyncIterator[Database]:
    database = Database(payments_db_url, "payments", pool_size=4)
    yield database
    await database.dispose()


Signer = Callable[..., str]


def _sign(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header computed as Stripe does (HMAC-SHA256 of ``t.payload``)."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


@pytest.fixture
def sign() -> Signer:
    """``sign(payload, secret=WEBHOOK_SECRET, timestamp=None)`` -> ``Stripe-Signature``."""
    return _sign


RunQueue = Callable[..., Awaitable[int]]

QUICK = WorkerConfig(concurrency=1, retry_base_s=0.01, retry_max_s=0.05, poll_interval_s=0.01)


@pytest.fixture
def run_queue(db: Database, gateway: StripeGateway) -> RunQueue:
    """``await run_queue(order_id=None, gateway=None)``: one settlement worker lane makes
    every due queue item's Stripe call (of that order only, if given) until none is due;
    returns how many it processed. How tests authorize an order since ``OrderPlaced`` only
    queues it."""

    async def drain(
        order_id: uuid.UUID | None = None, gateway_: Any = None, config: WorkerConfig = QUICK
    ) -> int:
        limiter = PgRateLimiter(db.engine, "stripe", 10_000)
        worker = SettlementWorker(db, gateway_ or gateway, limiter, config)
        done = 0
        while done < 1_000 and await worker.process_one(order_id):
            done += 1
        return done

    return drain


async def expired_hold(
    db: Database,
    gateway: StripeGateway,
    amount_cents: int = 1800,
    correlation_id: str | None = None,
) -> uuid.UUID:
    """An authorized payment whose hold expired, its card saved on a Customer and needing
    authentication: settling it charges off-session, fails, and opens a pay-later link."""
    order_id = uuid.uuid4()
    customer = await gateway.client.v1.customers.create_async({})
    async with db.unit_of_work() as uow:
        uow.session.add(
            Payment(
                order_id=order_id,
                campaign_id=uuid.uuid4(),
                payment_intent_id=f"pi_expired_{order_id.hex[:10]}",
                status="authorized",
                amount_cents=amount_cents,
                currency="eur",
                customer_id=customer.id,
                payment_method_id="pm_card_authenticationRequired",
                hold_expired=True,
                correlation_id=correlation_id,
            )
        )
    return order_id


@pytest.fixture
async def proxy(localstripe: LocalStripe) -> AsyncIterator[FaultProxy]:
    """A fault proxy in front of the emulator (no faults until a test sets a plan); a hang
    lasts past the gateway's timeout. A module may override it (another ``hang_s``)."""
    async with FaultProxy(localstripe.api_base, hang_s=3.0) as p:
        yield p


@pytest.fixture
async def faulty_gateway(proxy: FaultProxy) -> AsyncIterator[StripeGateway]:
    """What the workers use: through the proxy, a short client timeout and no SDK retries
    (the queue retries)."""
    gw = StripeGateway(
        "sk_test_payments", api_base=proxy.base_url, max_network_retries=0, timeout_s=0.5
    )
    yield gw
    await gw.aclose()
