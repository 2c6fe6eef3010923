"""Payments test fixtures: a gateway on the real localstripe (the root conftest's session
fixture) and a migrated database; and the helpers the features' tests share (orders placed,
campaigns published to an onboarded creator, payments authorized, captured, their holds
expired)."""

import hashlib
import hmac
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from dropwave_contracts.events import CampaignPublished, OrderCancelled, OrderPlaced
from dropwave_contracts.topics import parse_event
from dropwave_devstack.faults import FaultProxy
from dropwave_devstack.stripe_emulator import LocalStripe
from dropwave_runtime.db import Database, outbox_table
from dropwave_runtime.rate_limit import PgRateLimiter
from payments.authorization.handlers import on_orders_placed
from payments.connect.handlers import on_account_updated, on_campaign_published
from payments.models import CampaignCreator, Payment
from payments.settings import Settings
from payments.settlement.worker import SettlementWorker, WorkerConfig
from payments.stripe_gateway import StripeGateway
from payments.webhooks.handlers import on_payment_intent_webhook
from sqlalchemy import select

WEBHOOK_SECRET = "whsec_test_payments"


def gateway_on(localstripe: LocalStripe) -> StripeGateway:
    """Payments' gateway on ``localstripe``, SDK retries off (tests see every attempt)."""
    return StripeGateway("sk_test_payments", api_base=localstripe.api_base, max_network_retries=0)


@pytest.fixture(scope="session")
async def gateway(localstripe: LocalStripe) -> AsyncIterator[StripeGateway]:
    gw = gateway_on(localstripe)
    yield gw
    await gw.aclose()


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


# --- shared by the features' tests --------------------------------------------------------

CREATOR = "user_creator_1"


def settings(localstripe: LocalStripe, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": "postgresql+asyncpg://unused/unused",
        "kafka_bootstrap_servers": "127.0.0.1:9",
        "stripe_secret_key": "sk_test_payments",
        "stripe_api_base": localstripe.api_base,
        "stripe_webhook_secret": "whsec_x",
        "pay_link_secret": "pay-link-secret-0123456789",
        "auth_jwks_url": "http://127.0.0.1:9/jwks.json",
        "auth_issuer": "https://issuer.test/",
        "auth_audience": "dropwave-api",
        "pay_later_grace_s": 3600,
        "pay_later_reminder_every_s": 600,
    }
    return Settings.model_validate(values | overrides)


def window(s: Settings) -> dict[str, float]:
    return {"grace_s": s.pay_later_grace_s, "reminder_every_s": s.pay_later_reminder_every_s}


def placed(
    pm: str | None, campaign_id: uuid.UUID, amount: int = 2500, creator: str | None = None
) -> OrderPlaced:
    return OrderPlaced(
        producer="orders",
        correlation_id=f"corr-{uuid.uuid4().hex[:8]}",
        campaign_id=campaign_id,
        order_id=uuid.uuid4(),
        buyer_number=1,
        amount_cents=amount,
        currency="eur",
        buyer_email="buyer@example.com",
        buyer_phone=None,
        payment_method_id=pm,
        creator_id=creator,
    )


def cancelled(order: OrderPlaced, was_confirmed: bool = True) -> OrderCancelled:
    """The buyer cancelled ``order`` (orders' ``OrderCancelled``)."""
    return OrderCancelled(
        producer="orders",
        correlation_id=order.correlation_id,
        campaign_id=order.campaign_id,
        order_id=order.order_id,
        buyer_number=order.buyer_number,
        reason="buyer_cancelled",
        was_confirmed=was_confirmed,
    )


def published(campaign_id: uuid.UUID, creator: str = CREATOR) -> CampaignPublished:
    now = datetime.now(UTC)
    return CampaignPublished(
        producer="campaigns",
        correlation_id="c",
        campaign_id=campaign_id,
        creator_id=creator,
        slug="s",
        title="t",
        price_cents=2500,
        currency="eur",
        min_orders=5,
        deadline=now + timedelta(days=30),
        published_at=now,
    )


async def events(db: Database, cls: type[Any]) -> list[Any]:
    async with db.sessions() as s:
        payloads = await s.scalars(select(outbox_table.c.payload).order_by(outbox_table.c.id))
        return [e for e in map(parse_event, payloads) if isinstance(e, cls)]


async def payment(db: Database, order_id: uuid.UUID) -> Payment:
    async with db.sessions() as s:
        row = await s.get(Payment, order_id)
    assert row is not None
    return row


async def onboarded_campaign(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe
) -> tuple[uuid.UUID, str]:
    """A published campaign whose creator's account can take charges and pay out."""
    campaign_id = uuid.uuid4()
    creator = f"user_{uuid.uuid4().hex[:8]}"
    state = await gateway.create_express_account(creator)
    async with httpx.AsyncClient() as http:
        account = (
            await http.get(f"{localstripe.api_base}/_config/accounts/{state.account_id}/onboard")
        ).json()
    async with db.unit_of_work() as uow:
        await on_campaign_published(published(campaign_id, creator), uow)
        await on_account_updated(uow, f"evt_{uuid.uuid4().hex}", 100, account)
    return campaign_id, creator


async def authorize(db: Database, gateway: StripeGateway, event: OrderPlaced) -> Payment:
    """OrderPlaced handled (recorded, queued), then the worker's lane authorizes it."""
    async with db.unit_of_work() as uow:
        await on_orders_placed([event], uow, platform_fee_bps=500)
    worker = SettlementWorker(db, gateway, PgRateLimiter(db.engine, "stripe", 10_000))
    while await worker.process_one(event.order_id):
        pass
    return await payment(db, event.order_id)


async def campaign_owner_of(session: Any, campaign_id: uuid.UUID) -> str | None:
    owner: str | None = await session.scalar(
        select(CampaignCreator.creator_id).where(CampaignCreator.campaign_id == campaign_id)
    )
    return owner


async def captured_order(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe
) -> tuple[Payment, str]:
    campaign_id, creator = await onboarded_campaign(db, gateway, localstripe)
    row = await authorize(db, gateway, placed("pm_card_visa", campaign_id, 2500))
    assert row.payment_intent_id is not None
    await gateway.client.v1.payment_intents.capture_async(row.payment_intent_id)
    async with db.unit_of_work() as uow:
        locked = await uow.session.get(Payment, row.order_id)
        assert locked is not None
        locked.status = "captured"
    return row, creator


async def expire_hold(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe, row: Payment
) -> None:
    """Stripe cancels the authorization when its window passes; its webhook flags the hold."""
    assert row.payment_intent_id is not None
    async with httpx.AsyncClient() as http:
        expired = await http.post(
            f"{localstripe.api_base}/_config/payment_intents/{row.payment_intent_id}/expire"
        )
    expired.raise_for_status()
    async with db.unit_of_work() as uow:
        changed = await on_payment_intent_webhook(
            uow, f"evt_{uuid.uuid4().hex}", "payment_intent.canceled", expired.json()
        )
    assert changed is None  # not a release
