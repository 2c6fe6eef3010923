import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import dropwave_contracts.events as ev
import pytest
from dropwave_devstack.smtp_sink import SmtpSink
from dropwave_devstack.twilio_emulator import FakeTwilioApi
from dropwave_runtime.consumer import Batched
from dropwave_runtime.db import Database
from dropwave_runtime.rate_limit import PgRateLimiter
from notifications.bootstrap import SERVICE
from notifications.mailer import Mailer
from notifications.sms import FileCarrier, SmsSender
from notifications.worker import DeliveryWorker, WorkerConfig

from .fakes import RecordingMailer

SECRET = b"test-link-secret-0123456789"
ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "twilio-test-auth-token"

MakeWorker = Callable[..., DeliveryWorker]


@pytest.fixture
def mailer() -> RecordingMailer:
    return RecordingMailer()


@pytest.fixture
def carrier() -> FileCarrier:
    return FileCarrier()


def worker_config(**overrides: object) -> WorkerConfig:
    config = WorkerConfig(
        public_base_url="https://drops.example",
        link_secret=SECRET,
        pay_later_url_template="https://drops.example/pay/{order_id}",
        concurrency=8,
        batch_size=50,
        lease_s=30,
        poll_interval_s=0.05,
        max_attempts=3,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


@pytest.fixture
def make_worker(db: Database, mailer: RecordingMailer, carrier: FileCarrier) -> MakeWorker:
    def make(
        email: Mailer | None = None, sms: SmsSender | None = None, **overrides: object
    ) -> DeliveryWorker:
        return DeliveryWorker(
            db,
            worker_config(**overrides),
            email or mailer,
            sms or carrier,
            # The real shared limiter, at a rate that never holds a test up.
            email_limiter=PgRateLimiter(db.engine, "email:test", 100_000, burst=1000),
            sms_limiter=PgRateLimiter(db.engine, "sms:test", 100_000, burst=1000),
        )

    return make


@pytest.fixture
def worker(make_worker: MakeWorker) -> DeliveryWorker:
    return make_worker()


@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpSink]:
    with SmtpSink(tmp_path_factory.mktemp("smtp")) as running:
        yield running


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilioApi]:
    api = FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN).start()
    yield api
    api.stop()


class Drop:
    """Events of one campaign, built the way their producers build them."""

    def __init__(self, title: str = "Linen tote", min_orders: int = 4) -> None:
        self.campaign_id = uuid.uuid4()
        self.title = title
        self.min_orders = min_orders
        self.deadline = datetime(2031, 1, 2, 9, 30, tzinfo=UTC)
        self.orders: dict[int, uuid.UUID] = {}

    def published(self, creator_email: str | None = "creator-secret@example.com") -> Any:
        return ev.CampaignPublished(
            producer="campaigns",
            correlation_id="c-pub",
            campaign_id=self.campaign_id,
            creator_id="creator-1",
            creator_email=creator_email,
            slug="linen-tote",
            title=self.title,
            price_cents=2500,
            currency="usd",
            min_orders=self.min_orders,
            deadline=self.deadline,
            published_at=datetime.now(UTC),
        )

    def email(self, n: int) -> str:
        return f"buyer{n}-secret@example.com"

    def phone(self, n: int) -> str:
        return f"+1555000{n:04d}"

    def placed(self, n: int, *, phone: bool = True, consent: bool = True) -> Any:
        order_id = self.orders.setdefault(n, uuid.uuid4())
        return ev.OrderPlaced(
            producer="orders",
            correlation_id=f"order-{n}",
            campaign_id=self.campaign_id,
            order_id=order_id,
            buyer_number=n,
            amount_cents=2500,
            currency="usd",
            buyer_email=self.email(n),
            buyer_phone=self.phone(n) if phone else None,
            payment_method_id="pm_card_visa",
            sms_consent=consent,
        )

    def confirmed(
        self,
        n: int,
        *,
        phone: bool = True,
        at: datetime | None = None,
        order_token: str | None = None,
    ) -> Any:
        order_id = self.orders.setdefault(n, uuid.uuid4())
        fields: dict[str, Any] = {"order_token": order_token}
        if at is not None:
            fields["occurred_at"] = at
        return ev.OrderConfirmed(
            producer="orders",
            correlation_id=f"order-{n}",
            campaign_id=self.campaign_id,
            order_id=order_id,
            buyer_number=n,
            amount_cents=2500,
            currency="usd",
            buyer_email=self.email(n),
            buyer_phone=self.phone(n) if phone else None,
            campaign_title=self.title,
            campaign_min_orders=self.min_orders,
            campaign_deadline=self.deadline,
            **fields,
        )

    def cancelled(self, n: int) -> Any:
        return ev.OrderCancelled(
            producer="orders",
            correlation_id=f"order-{n}",
            campaign_id=self.campaign_id,
            order_id=self.orders[n],
            buyer_number=n,
            reason="buyer_cancelled",
            was_confirmed=True,
        )

    def milestone(self, percent: int, current: int) -> Any:
        return ev.CampaignMilestoneReached(
            producer="campaigns",
            correlation_id="c-ms",
            campaign_id=self.campaign_id,
            percent=percent,
            current_orders=current,
            min_orders=self.min_orders,
        )

    def tipped(self, current: int, at: datetime | None = None) -> Any:
        return ev.CampaignTipped(
            producer="campaigns",
            correlation_id="c-tip",
            campaign_id=self.campaign_id,
            current_orders=current,
            min_orders=self.min_orders,
            tipped_at=at or datetime.now(UTC),
        )

    def stretch_goal(
        self, goal: int, current: int, message: str, at: datetime | None = None
    ) -> Any:
        return ev.CampaignStretchGoalReached(
            producer="campaigns",
            correlation_id="c-goal",
            campaign_id=self.campaign_id,
            goal_orders=goal,
            message=message,
            current_orders=current,
            reached_at=at or datetime.now(UTC),
        )

    def succeeded(self, confirmed: int) -> Any:
        return ev.CampaignSucceeded(
            producer="campaigns",
            correlation_id="c-end",
            campaign_id=self.campaign_id,
            confirmed_orders=confirmed,
            min_orders=self.min_orders,
            closed_at=datetime.now(UTC),
        )

    def failed(self, confirmed: int) -> Any:
        return ev.CampaignFailed(
            producer="campaigns",
            correlation_id="c-end",
            campaign_id=self.campaign_id,
            confirmed_orders=confirmed,
            min_orders=self.min_orders,
            closed_at=datetime.now(UTC),
        )

    def campaign_cancelled(self) -> Any:
        return ev.CampaignCancelled(
            producer="campaigns",
            correlation_id="c-end",
            campaign_id=self.campaign_id,
            reason=None,
            cancelled_at=datetime.now(UTC),
        )

    def captured(self, n: int, cents: int = 2500) -> Any:
        return ev.PaymentCaptured(
            producer="payments",
            correlation_id="settle",
            campaign_id=self.campaign_id,
            order_id=self.orders[n],
            payment_intent_id=f"pi_{n}",
            amount_cents=cents,
            currency="usd",
            application_fee_cents=125,
        )

    def pay_token(self, n: int) -> str:
        """Stands for the token payments signs (opaque here)."""
        return f"1925626200.tok{n}_" + "x" * 38

    def capture_failed(self, n: int, *, token: bool = True) -> Any:
        return ev.PaymentCaptureFailed(
            producer="payments",
            correlation_id="settle",
            campaign_id=self.campaign_id,
            order_id=self.orders[n],
            payment_intent_id=f"pi_{n}",
            failure_code="card_declined",
            message="Your card was declined.",
            pay_later_until=datetime(2031, 1, 9, 9, 30, tzinfo=UTC),
            client_secret=f"pi_{n}_secret_abc",
            pay_token=self.pay_token(n) if token else None,
        )

    def reminder(self, n: int, number: int) -> Any:
        return ev.PaymentReminderIssued(
            producer="payments",
            correlation_id="pay-later",
            campaign_id=self.campaign_id,
            order_id=self.orders[n],
            payment_intent_id=f"pi_{n}",
            client_secret=f"pi_{n}_secret_abc",
            pay_later_until=datetime(2031, 1, 9, 9, 30, tzinfo=UTC),
            reminder_number=number,
            pay_token=self.pay_token(n),
        )

    def refunded(self, n: int, cents: int = 1000) -> Any:
        return ev.PaymentRefunded(
            producer="payments",
            correlation_id="refund",
            campaign_id=self.campaign_id,
            order_id=self.orders[n],
            payment_intent_id=f"pi_{n}",
            refund_id=f"re_{n}",
            amount_cents=cents,
            currency="usd",
        )


Handle = Callable[..., Awaitable[None]]


@pytest.fixture
def handle(db: Database) -> Handle:
    """``await handle(event, ...)``: each event through its handler, in its own unit of work
    with the inbox (as the runtime's consumer runs it)."""

    async def run(*events: Any) -> None:
        for event in events:
            handler = SERVICE.events[type(event)]
            async with db.unit_of_work() as uow:
                if not await uow.claim("notifications", event.event_id):
                    continue
                if isinstance(handler, Batched):
                    await handler.one(event, uow)
                else:
                    await handler(event, uow)

    return run


@pytest.fixture
def drop() -> Drop:
    return Drop()


@pytest.fixture
def make_drop() -> Callable[..., Drop]:
    return Drop
