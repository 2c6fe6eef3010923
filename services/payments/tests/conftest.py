"""Payments test fixtures: a real localstripe (per session) and a migrated database."""

import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from dropwave_devstack.stripe_emulator import LocalStripe
from dropwave_runtime.db import Database
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
