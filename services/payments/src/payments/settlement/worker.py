"""The payments work queue: authorization, settlement and release, durable in payments'
database and drained by a worker.

* Handlers only *enqueue*, in the consumer's unit of work: ``OrderPlaced`` records the
  payment (``pending``) and an ``authorize`` item; ``OrderCancelled`` records the cancel on
  the payment (``cancel_requested_at``: never capture-eligible again) and a ``release``
  item; the campaign's outcome (``CampaignSucceeded``: capture; ``CampaignFailed`` /
  ``CampaignCancelled``: release) one ``settlements`` row for the run and one
  ``settlement_items`` row per payment. Nothing lives in memory, so a crash loses nothing,
  and no handler calls Stripe, so a dead-lettered event never leaves a PaymentIntent
  nothing tracks.
* Every instance runs :class:`SettlementWorker` lanes. A lane claims one due item with
  ``FOR UPDATE SKIP LOCKED`` and keeps that transaction open across the Stripe call: the row
  lock *is* the lease. The payment's new status, the item's outcome and the event
  (``PaymentAuthorized`` / ``PaymentActionRequired`` / ``PaymentFailed`` /
  ``PaymentCaptured`` / ``PaymentCaptureFailed`` / ``PaymentReleased``, outbox) commit
  together; a crash before the commit rolls the claim back and another lane takes the item
  again, calling Stripe with the *same* idempotency key (``authorize:<order>``,
  ``capture:<order>``, ``release:<order>``), so Stripe replays its first answer instead of
  acting twice.
* Every call (first attempt or retry) first takes a slot from the one rate limiter shared by
  all instances (:mod:`dropwave_runtime.rate_limit`); the SDK's own retries are off for
  these calls so none bypasses the limiter. 429s, 5xx, timeouts and connection errors are
  retried with jittered exponential backoff: an authorization up to
  ``authorize_max_attempts`` (then the payment is ``failed`` with ``authorization_unavailable``
  and ``PaymentFailed`` tells orders), a capture up to ``settlement_max_attempts`` (then
  reported failed; a late webhook of a capture that did happen still moves it to captured),
  a release never gives up (backoff capped at ``settlement_retry_max_s``) until Stripe
  confirms: it stays visible in the metrics and ``python -m payments queue list``.
* An authorization is one Stripe request (the PaymentIntent) unless its campaign can
  outlive the authorization's hold (``payments.save_card``, decided on ``OrderPlaced`` from
  the deadline): then the card is saved on the order's Customer (``customer:<order>``)
  first, for an off-session charge after the hold is gone.
* An authorization sent to Stripe is recorded first (``authorization_attempts``, its own
  commit before the call): when such an order is cancelled or given up on, its ``release``
  item finds what an attempt that timed out or lost its answer left and cancels it: it
  lists the order's Customer's PaymentIntents, or, with no Customer, replays the create
  under ``authorize:<order>`` (Stripe answers with the first attempt's PaymentIntent). An
  authorization never sent needs no Stripe call at all.
* A capture run decided on orders' closing tally (``CampaignSucceeded.tally_event_id``)
  claims no item before that ``OrdersTallied`` is recorded (``campaign_tallies``): by then
  every ``OrderCancelled`` of the campaign has been handled. Older outcomes (no tally) and
  releases are not gated.
* Housekeeping: payments that become eligible after the run started (an authorization
  finishing late) are swept into the run, a run with no queued item left is closed with
  its summary (gross, platform fee, net to the creator, failures), and the queue's gauges
  are refreshed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

import stripe
from dropwave_contracts.events import (
    PaymentActionRequired,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentCaptureFailed,
    PaymentFailed,
    PaymentReleased,
)
from dropwave_runtime.backoff import exponential
from dropwave_runtime.db import Database, UnitOfWork
from dropwave_runtime.listen import wake_on
from dropwave_runtime.periodic import every
from dropwave_runtime.rate_limit import PgRateLimiter
from dropwave_runtime.tracing import Tracing
from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from ..domain import (
    AUTHORIZATION_DONE,
    FAILED_MESSAGE,
    PRODUCER,
    AuthorizationResult,
    PaymentStatus,
    can_transition,
    hold_expired,
    platform_fee_cents,
)
from ..metrics import QUEUE_ATTEMPTS, refresh_queue_gauges
from ..models import AuthorizationAttempt, Payment, Settlement, SettlementItem
from ..pay_later.handlers import settle_payment
from ..settings import Settings
from ..stripe_gateway import AuthorizationRequest, CaptureResult, OffSessionResult
from .queue import (
    AUTHORIZE,
    CAPTURE,
    DONE,
    FAILED,
    QUEUE_CHANNEL,
    QUEUED,
    RELEASE,
    RUNNING,
    SETTLED,
    SKIPPED,
    attempted,
    enqueue_eligible,
    enqueue_release,
    waiting_for_tally,
)
from .summary import item_totals

log = logging.getLogger(__name__)

AUTHORIZATION_UNAVAILABLE: Final = "authorization_unavailable"
"""``PaymentFailed.failure_code`` of an authorization given up on (Stripe did not answer)."""

STRIPE_UNAVAILABLE: Final = "stripe_unavailable"
GAUGE_REFRESH_S: Final = 5.0
"""How often housekeeping refreshes the queue's gauges (one grouped query)."""

SWEEP_WINDOW: Final = timedelta(days=8)
"""Runs younger than this take in late arrivals (an authorization holds at most 7 days)."""


class SettlementGateway(Protocol):
    async def customer(self, order_id: uuid.UUID, *, max_network_retries: int | None) -> str: ...

    async def authorize(
        self,
        order: AuthorizationRequest,
        *,
        customer_id: str | None,
        max_network_retries: int | None,
    ) -> AuthorizationResult: ...

    async def cancel_customer_intents(
        self,
        order_id: uuid.UUID,
        customer_id: str,
        *,
        keep: str | None = None,
        max_network_retries: int | None = None,
    ) -> list[str]: ...

    async def capture(
        self, payment_intent_id: str, order_id: uuid.UUID, *, max_network_retries: int | None
    ) -> CaptureResult: ...

    async def release(
        self, payment_intent_id: str, order_id: uuid.UUID, *, max_network_retries: int | None
    ) -> None: ...

    async def charge_off_session(
        self,
        *,
        order_id: uuid.UUID,
        campaign_id: uuid.UUID,
        amount_cents: int,
        currency: str,
        customer_id: str,
        payment_method_id: str,
        destination_account: str | None,
        application_fee_cents: int | None,
        max_network_retries: int | None = None,
    ) -> OffSessionResult: ...


async def _payments_and_runs(
    uow: UnitOfWork, items: Sequence[SettlementItem]
) -> tuple[dict[uuid.UUID, Payment], dict[uuid.UUID, Settlement]]:
    """A batch's payments, locked in one query (item, then payment, in order_id order, as
    everywhere), and their campaigns' runs, by order and by campaign."""
    payments = await uow.session.scalars(
        select(Payment)
        .where(Payment.order_id.in_([item.order_id for item in items]))
        .order_by(Payment.order_id)
        .with_for_update()
    )
    runs = await uow.session.scalars(
        select(Settlement).where(Settlement.campaign_id.in_({item.campaign_id for item in items}))
    )
    return {p.order_id: p for p in payments}, {r.campaign_id: r for r in runs}


def _requests(payment: Payment) -> int:
    """Stripe requests the payment's authorization makes: the PaymentIntent, and first the
    order's Customer when the card is saved and the Customer is not made yet."""
    return 2 if payment.save_card and payment.customer_id is None else 1


# --- the worker -------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerConfig:
    concurrency: int = 8
    authorize_batch: int = 10
    """Authorizations a lane claims and sends at once (:meth:`SettlementWorker.authorize_batch`)."""
    capture_batch: int = 10
    """Captures a lane claims and sends at once (:meth:`SettlementWorker.capture_batch`)."""
    max_attempts: int = 8
    """Attempts of a capture before it is reported failed."""
    authorize_max_attempts: int = 20
    """Attempts of an authorization before the payment fails (``authorization_unavailable``)."""
    retry_base_s: float = 0.5
    retry_max_s: float = 30.0
    poll_interval_s: float = 0.5
    """How often housekeeping runs, and so how soon a backoff come due wakes the lanes."""
    idle_wait_s: float = 10.0
    """How long an idle lane waits unless woken: by ``NOTIFY payments_queue`` (an item
    queued or made due now) or by housekeeping (an item due: a backoff, a capture whose
    tally came). Lanes polling on their own cost an idle payments ~18 % of a core."""
    platform_fee_bps: int = 500
    pay_later_grace_s: float = 7 * 24 * 3600
    pay_later_reminder_every_s: float = 2 * 24 * 3600
    pay_link_secret: str | None = field(default=None, repr=False)
    """Signs the pay-later link's token in ``PaymentCaptureFailed`` (``PAY_LINK_SECRET``)."""

    @classmethod
    def from_settings(cls, s: Settings) -> WorkerConfig:
        return cls(
            concurrency=s.settlement_concurrency,
            authorize_batch=s.authorize_batch,
            capture_batch=s.capture_batch,
            max_attempts=s.settlement_max_attempts,
            authorize_max_attempts=s.authorize_max_attempts,
            retry_base_s=s.settlement_retry_base_s,
            retry_max_s=s.settlement_retry_max_s,
            poll_interval_s=s.settlement_poll_interval_s,
            platform_fee_bps=s.platform_fee_bps,
            pay_later_grace_s=s.pay_later_grace_s,
            pay_later_reminder_every_s=s.pay_later_reminder_every_s,
            pay_link_secret=s.pay_link_secret.get_secret_value(),
        )


class SettlementWorker:
    """Drains the settlement queue: ``concurrency`` lanes plus housekeeping. Any number of
    workers (in one process or many) may run against the same database."""

    def __init__(
        self,
        db: Database,
        gateway: SettlementGateway,
        limiter: PgRateLimiter,
        config: WorkerConfig | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.db = db
        self.tracing = tracing or Tracing("payments", export=False)
        self.gateway = gateway
        self.limiter = limiter
        self.config = config or WorkerConfig()
        self._gauges_due = 0.0
        self._wake = asyncio.Event()
        """Set when an item becomes due (``NOTIFY payments_queue``, migration 0005)."""

    async def run(self) -> None:
        """Run until cancelled."""
        lanes = [
            asyncio.create_task(self._lane(), name=f"settlement-lane-{i}")
            for i in range(self.config.concurrency)
        ]
        lanes.append(
            asyncio.create_task(
                wake_on(self.db, QUEUE_CHANNEL, self._wake, self.config.poll_interval_s),
                name="settlement-listener",
            )
        )
        try:
            await every(
                self.config.poll_interval_s,
                self.housekeeping,
                name="settlement housekeeping",
                logger=log,
            )
        finally:
            for lane in lanes:
                lane.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)

    async def _lane(self) -> None:
        """Take due items one after another; when none is due, wait to be woken (see
        ``idle_wait_s``)."""
        while True:
            self._wake.clear()
            try:
                # Authorizations and captures (the floods of a drop) in batches, then one
                # other item, so neither backlog starves the other or the releases.
                claimed = await self.authorize_batch(self.config.authorize_batch)
                claimed += await self.capture_batch(self.config.capture_batch)
                worked = await self.process_one(authorize=False) or claimed > 0
            except Exception:
                log.exception("settlement item failed; retrying later")
                worked = False
            if not worked:
                timeout = self.config.idle_wait_s * (0.5 + random.random())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)

    async def housekeeping(self) -> None:
        await self.sweep()
        await self.close_finished_runs()
        if await self._any_due():
            self._wake.set()
        now = time.monotonic()
        if now >= self._gauges_due:
            self._gauges_due = now + GAUGE_REFRESH_S
            await refresh_queue_gauges(self.db)

    async def _any_due(self) -> bool:
        """Whether an item is due (what NOTIFY does not announce: a backoff come due)."""
        due = select(SettlementItem.order_id).where(
            SettlementItem.status == QUEUED, SettlementItem.next_attempt_at <= func.now()
        )
        async with self.db.sessions() as session:
            return bool(await session.scalar(select(due.exists())))

    async def sweep(self) -> int:
        """Queue payments that became eligible after their campaign's run started."""
        recent = Settlement.started_at > func.now() - SWEEP_WINDOW
        total = 0
        async with self.db.unit_of_work() as uow:
            for kind in (CAPTURE, RELEASE):
                runs = select(Settlement.campaign_id).where(Settlement.kind == kind, recent)
                total += await enqueue_eligible(uow, kind, Payment.campaign_id.in_(runs))
        return total

    async def process_one(
        self, order_id: uuid.UUID | None = None, *, authorize: bool = True
    ) -> bool:
        """Claim one due item (of ``order_id`` only, if given; no authorization unless
        ``authorize``) and make its Stripe call; False when nothing is due."""
        async with self.db.unit_of_work() as uow:
            due = select(SettlementItem).where(
                SettlementItem.status == QUEUED,
                SettlementItem.next_attempt_at <= func.now(),
                or_(SettlementItem.kind != CAPTURE, ~waiting_for_tally()),
            )
            if order_id is not None:
                due = due.where(SettlementItem.order_id == order_id)
            if not authorize:
                due = due.where(SettlementItem.kind != AUTHORIZE)
            item = await uow.session.scalar(
                due.order_by(SettlementItem.next_attempt_at)
                .limit(1)
                .with_for_update(skip_locked=True, of=SettlementItem)
            )
            if item is None:
                return False
            payment = await uow.session.scalar(
                select(Payment).where(Payment.order_id == item.order_id).with_for_update()
            )
            run = await uow.session.get(Settlement, item.campaign_id)
            # The attempt continues the trace of what queued the item (the order's request,
            # the campaign's outcome): its Stripe call and events are in that trace.
            with self.tracing.span(f"settlement {item.kind}", item.traceparent):
                if item.kind == AUTHORIZE:
                    await self._authorize(uow, item, payment, run)
                elif item.kind == CAPTURE:
                    assert run is not None
                    await self._capture(uow, item, payment, run)
                else:
                    await self._release(uow, item, payment, run)
            return True

    def _common(
        self, payment: Payment, run: Settlement | None, item: SettlementItem | None = None
    ) -> dict[str, Any]:
        """Envelope and ids of an event about ``payment``: caused by the event that queued
        the item (``OrderPlaced``, ``OrderCancelled``) or by the run's outcome."""
        correlation = (item.correlation_id if item else None) or (
            run.correlation_id if run else None
        )
        causation = (item.causation_id if item else None) or (run.causation_id if run else None)
        return {
            "producer": PRODUCER,
            "correlation_id": correlation or payment.correlation_id or str(payment.order_id),
            "causation_id": causation,
            "campaign_id": payment.campaign_id,
            "order_id": payment.order_id,
            "payment_intent_id": payment.payment_intent_id,
        }

    # --- authorize ----------------------------------------------------------------------

    async def _authorize(
        self,
        uow: UnitOfWork,
        item: SettlementItem,
        payment: Payment | None,
        run: Settlement | None,
    ) -> None:
        if not await self._authorization_needed(uow, item, payment, run):
            return
        assert payment is not None
        await self._mark_attempted([payment.order_id])
        try:
            outcome: AuthorizationResult | stripe.StripeError = await self._create_intent(payment)
        except stripe.StripeError as exc:
            outcome = exc
        await self._authorized(uow, item, payment, run, outcome)

    async def authorize_batch(self, limit: int) -> int:
        """Claim up to ``limit`` due authorizations (earliest deadline first) in one
        transaction and make their calls concurrently: one commit marks them attempted, one
        upsert reserves their limiter slots (handed out at the limiter's pace), one commit
        records every outcome. Each item keeps the guarantees of one claim (its row lock is
        the lease across the call, the same key on every attempt). Returns how many items
        were claimed (0: none due)."""
        async with self.db.unit_of_work() as uow:
            items = (
                await uow.session.scalars(
                    select(SettlementItem)
                    .where(
                        SettlementItem.status == QUEUED,
                        SettlementItem.kind == AUTHORIZE,
                        SettlementItem.next_attempt_at <= func.now(),
                    )
                    # Earliest deadline first (migration 0009): orders still authorizing
                    # at their drop's close are waited for, then cancelled; a drop closing
                    # in days can wait its turn.
                    .order_by(
                        SettlementItem.needed_by.asc().nulls_last(),
                        SettlementItem.next_attempt_at,
                    )
                    .limit(limit)
                    .with_for_update(skip_locked=True, of=SettlementItem)
                )
            ).all()
            if not items:
                return 0
            payments, runs = await _payments_and_runs(uow, items)
            sending: list[tuple[SettlementItem, Payment, Settlement | None]] = []
            for item in items:
                payment, run = payments.get(item.order_id), runs.get(item.campaign_id)
                with self.tracing.span(f"settlement {item.kind}", item.traceparent):
                    if await self._authorization_needed(uow, item, payment, run):
                        assert payment is not None
                        sending.append((item, payment, run))
            if not sending:
                return len(items)
            await self._mark_attempted([payment.order_id for _, payment, _ in sending])
            slots = await self.limiter.reserve_block(
                sum(_requests(payment) for _, payment, _ in sending)
            )

            async def call(
                item: SettlementItem, payment: Payment
            ) -> AuthorizationResult | stripe.StripeError:
                with self.tracing.span(f"settlement {item.kind}", item.traceparent):
                    try:
                        return await self._create_intent(payment, pace=slots.acquire)
                    except stripe.StripeError as exc:
                        return exc

            outcomes = await asyncio.gather(*(call(item, p) for item, p, _ in sending))
            for (item, payment, run), outcome in zip(sending, outcomes, strict=True):
                with self.tracing.span(f"settlement {item.kind}", item.traceparent):
                    await self._authorized(uow, item, payment, run, outcome)
            return len(items)

    async def _authorization_needed(
        self,
        uow: UnitOfWork,
        item: SettlementItem,
        payment: Payment | None,
        run: Settlement | None,
    ) -> bool:
        """Settle a claimed authorization that needs no Stripe call; True when it does."""
        if payment is None:
            item.status = SKIPPED
            return False
        if PaymentStatus(payment.status) in AUTHORIZATION_DONE:
            item.status = DONE  # resolved meanwhile (a webhook of an earlier attempt's intent)
            return False
        if payment.cancel_requested_at is not None or (run is not None and run.kind == RELEASE):
            # Cancelled (or the campaign failed) before the authorization was known: never
            # sent, nothing to do at Stripe; sent, the release item finds what it left.
            payment.status = PaymentStatus.RELEASED.value
            item.status = SKIPPED
            if await attempted(uow, payment.order_id):
                await enqueue_release(uow, item, payment)
            return False
        return True

    async def _authorized(
        self,
        uow: UnitOfWork,
        item: SettlementItem,
        payment: Payment,
        run: Settlement | None,
        outcome: AuthorizationResult | stripe.StripeError,
    ) -> None:
        """Record an authorization's answer (or its error) with its event, in the claim."""
        if isinstance(outcome, stripe.StripeError):
            if await self._retry_later(uow, item, outcome, self.config.authorize_max_attempts):
                return
            # Given up: a clear failure (orders fails the order), never a payment stuck
            # pending; whatever an unanswered attempt left at Stripe is released.
            payment.status = PaymentStatus.FAILED.value
            payment.failure_code = AUTHORIZATION_UNAVAILABLE
            item.status = FAILED
            await uow.emit(
                PaymentFailed(
                    failure_code=AUTHORIZATION_UNAVAILABLE,
                    decline_code=None,
                    message="The payment could not be authorized; please try again later.",
                    **self._common(payment, run, item),
                )
            )
            await enqueue_release(uow, item, payment)
            return
        result = outcome
        QUEUE_ATTEMPTS.labels(AUTHORIZE, "ok").inc()
        payment.payment_intent_id = result.payment_intent_id
        payment.status = result.status.value
        payment.capture_before = result.capture_before
        payment.payment_method_id = result.payment_method_id or payment.payment_method_id
        payment.failure_code = result.failure_code
        payment.decline_code = result.decline_code
        item.status = DONE
        item.last_error = None
        common = self._common(payment, run, item)
        if result.status is PaymentStatus.AUTHORIZED:
            assert result.payment_intent_id is not None
            await uow.emit(
                PaymentAuthorized(
                    amount_cents=payment.amount_cents,
                    currency=payment.currency,
                    capture_before=result.capture_before,
                    **common,
                )
            )
        elif result.status is PaymentStatus.REQUIRES_ACTION:
            assert result.client_secret is not None
            await uow.emit(
                PaymentActionRequired(
                    client_secret=result.client_secret, next_action=result.next_action, **common
                )
            )
        else:
            await uow.emit(
                PaymentFailed(
                    failure_code=result.failure_code,
                    decline_code=result.decline_code,
                    message=result.message or FAILED_MESSAGE,
                    **common,
                )
            )

    async def _create_intent(
        self, payment: Payment, pace: Callable[[], Awaitable[None]] | None = None
    ) -> AuthorizationResult:
        """The order's PaymentIntent (key ``authorize:<order>``, the same parameters on every
        attempt): one request, paced; two when the card is saved (``payment.save_card``: the
        campaign can outlive the hold), the order's Customer first (key ``customer:<order>``)."""
        request = AuthorizationRequest(
            order_id=payment.order_id,
            campaign_id=payment.campaign_id,
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            payment_method_id=payment.payment_method_id,
            destination_account=payment.destination_account,
            application_fee_cents=payment.application_fee_cents,
            save_card=payment.save_card,
        )
        pace = pace or self.limiter.acquire
        if _requests(payment) == 2:
            await pace()
            payment.customer_id = await self.gateway.customer(
                payment.order_id, max_network_retries=0
            )
        await pace()
        return await self.gateway.authorize(
            request, customer_id=payment.customer_id, max_network_retries=0
        )

    async def _mark_attempted(self, order_ids: Sequence[uuid.UUID]) -> None:
        """Record, committed on its own connection before the calls (one commit for a
        batch), that these orders' authorizations reach Stripe: if the claim's transaction is
        lost (a crash), a cancel still knows Stripe may hold a PaymentIntent for them."""
        async with self.db.engine.begin() as conn:
            await conn.execute(
                pg_insert(AuthorizationAttempt).on_conflict_do_nothing(),
                [{"order_id": order_id} for order_id in order_ids],
            )

    async def _release_unknown_intents(
        self, uow: UnitOfWork, item: SettlementItem, payment: Payment, run: Settlement | None
    ) -> None:
        """Cancel whatever an unanswered authorization attempt left at Stripe (retried until
        Stripe answers). A saved card's attempt was made on the order's Customer: list its
        PaymentIntents (the Customer's key replays it). Without a Customer, replay the
        create itself: the same key and parameters get the first attempt's PaymentIntent
        back (Stripe keeps the answer 24 h); if the first never arrived, this makes it now,
        and it is cancelled at once: nothing stays held either way."""
        try:
            if payment.save_card or payment.customer_id is not None:
                if payment.customer_id is None:
                    await self.limiter.acquire()
                    payment.customer_id = await self.gateway.customer(
                        payment.order_id, max_network_retries=0
                    )
                await self.limiter.acquire()
                cancelled = await self.gateway.cancel_customer_intents(
                    payment.order_id, payment.customer_id, max_network_retries=0
                )
            else:
                cancelled = await self._cancel_replayed_intent(payment)
        except stripe.StripeError as exc:
            await self._retry_later(uow, item, exc, None)
            return
        QUEUE_ATTEMPTS.labels(RELEASE, "ok").inc()
        item.status = DONE
        item.last_error = None
        if cancelled:
            log.warning(
                "released %d PaymentIntent(s) left by an unanswered authorization",
                len(cancelled),
                extra={"order_id": str(payment.order_id)},
            )
        if cancelled and payment.status == PaymentStatus.RELEASED.value:
            await uow.emit(
                PaymentReleased(
                    **(self._common(payment, run, item) | {"payment_intent_id": cancelled[0]})
                )
            )

    async def _cancel_replayed_intent(self, payment: Payment) -> list[str]:
        """Replay the order's authorization and cancel the PaymentIntent it names (key
        ``release:<order>``); none when Stripe refused it before making one."""
        replayed = await self._create_intent(payment)
        if replayed.payment_intent_id is None:
            return []
        await self.limiter.acquire()
        await self.gateway.release(
            replayed.payment_intent_id, payment.order_id, max_network_retries=0
        )
        return [replayed.payment_intent_id]

    async def _capture(
        self, uow: UnitOfWork, item: SettlementItem, payment: Payment | None, run: Settlement
    ) -> None:
        if await self._capture_needed(uow, item, payment, run):
            assert payment is not None
            await self._captured(uow, item, payment, run, await self._call_capture(payment))

    async def capture_batch(self, limit: int) -> int:
        """Claim up to ``limit`` due captures in one transaction and make their calls
        concurrently, as :meth:`authorize_batch` does: one upsert reserves their limiter
        slots, one commit records every outcome. A drop's success queues a capture per
        order at once; taken one at a time, the lanes used about half the Stripe budget on
        a busy box. Returns how many items were claimed (0: none due)."""
        async with self.db.unit_of_work() as uow:
            items = (
                await uow.session.scalars(
                    select(SettlementItem)
                    .where(
                        SettlementItem.status == QUEUED,
                        SettlementItem.kind == CAPTURE,
                        SettlementItem.next_attempt_at <= func.now(),
                        ~waiting_for_tally(),
                    )
                    .order_by(SettlementItem.next_attempt_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True, of=SettlementItem)
                )
            ).all()
            if not items:
                return 0
            payments, runs = await _payments_and_runs(uow, items)
            sending: list[tuple[SettlementItem, Payment, Settlement]] = []
            for item in items:
                payment, run = payments.get(item.order_id), runs[item.campaign_id]
                with self.tracing.span(f"settlement {item.kind}", item.traceparent):
                    if await self._capture_needed(uow, item, payment, run):
                        assert payment is not None
                        sending.append((item, payment, run))
            if not sending:
                return len(items)
            slots = await self.limiter.reserve_block(len(sending))

            async def call(
                item: SettlementItem, payment: Payment
            ) -> CaptureResult | stripe.StripeError:
                with self.tracing.span(f"settlement {item.kind}", item.traceparent):
                    return await self._call_capture(payment, pace=slots.acquire)

            outcomes = await asyncio.gather(*(call(item, p) for item, p, _ in sending))
            for (item, payment, run), outcome in zip(sending, outcomes, strict=True):
                with self.tracing.span(f"settlement {item.kind}", item.traceparent):
                    await self._captured(uow, item, payment, run, outcome)
            return len(items)

    async def _capture_needed(
        self, uow: UnitOfWork, item: SettlementItem, payment: Payment | None, run: Settlement
    ) -> bool:
        """Settle a claimed capture that needs no capture call; True when it does."""
        if payment is not None and payment.status == PaymentStatus.CAPTURED.value:
            # Captured already (a webhook of an earlier attempt's capture got there first).
            item.status = DONE
            item.amount_cents = payment.amount_cents
            item.fee_cents = platform_fee_cents(payment.amount_cents, self.config.platform_fee_bps)
            return False
        retriable = (
            payment is not None
            and payment.status == PaymentStatus.CAPTURE_FAILED.value
            and payment.failure_code == STRIPE_UNAVAILABLE
        )  # a capture given up on, queued again by an operator (``queue retry``)
        if (
            payment is None
            or payment.payment_intent_id is None
            or payment.cancel_requested_at is not None  # a cancelled order is never captured
            or not (payment.status == PaymentStatus.AUTHORIZED.value or retriable)
        ):
            item.status = SKIPPED
            return False
        if hold_expired(payment.capture_before, payment.hold_expired, datetime.now(UTC)):
            await self._charge_expired_hold(uow, item, payment, run)
            return False
        return True

    async def _call_capture(
        self, payment: Payment, pace: Callable[[], Awaitable[None]] | None = None
    ) -> CaptureResult | stripe.StripeError:
        """The capture (key ``capture:<order>``), paced; Stripe's error as a value."""
        assert payment.payment_intent_id is not None
        await (pace or self.limiter.acquire)()
        try:
            return await self.gateway.capture(
                payment.payment_intent_id, payment.order_id, max_network_retries=0
            )
        except stripe.StripeError as exc:
            return exc

    async def _captured(
        self,
        uow: UnitOfWork,
        item: SettlementItem,
        payment: Payment,
        run: Settlement,
        outcome: CaptureResult | stripe.StripeError,
    ) -> None:
        """Record a capture's answer (or its error) with its event, in the claim."""
        if isinstance(outcome, stripe.StripeError):
            if await self._retry_later(uow, item, outcome, self.config.max_attempts):
                return
            outcome = CaptureResult(
                captured=False,
                amount_cents=0,
                application_fee_cents=None,
                failure_code=STRIPE_UNAVAILABLE,
                message="The payment could not be captured; Stripe did not answer.",
            )
        result = outcome
        if not result.captured and result.hold_expired:
            # The hold is gone though we had not heard (a lost or late webhook, a
            # capture_before we never learned): charge the saved card off-session instead.
            payment.hold_expired = True
            await self._charge_expired_hold(uow, item, payment, run)
            return
        QUEUE_ATTEMPTS.labels(CAPTURE, "ok").inc()
        if result.captured:
            fee = result.application_fee_cents
            if fee is None:
                fee = platform_fee_cents(result.amount_cents, self.config.platform_fee_bps)
            payment.status = PaymentStatus.CAPTURED.value
            item.status = DONE
            item.amount_cents = result.amount_cents
            item.fee_cents = fee
            await uow.emit(
                PaymentCaptured(
                    amount_cents=result.amount_cents,
                    currency=payment.currency,
                    application_fee_cents=fee,
                    **self._common(payment, run),
                )
            )
        else:
            payment.status = PaymentStatus.CAPTURE_FAILED.value
            payment.failure_code = (result.failure_code or "capture_failed")[:255]
            item.status = FAILED
            item.last_error = payment.failure_code
            await uow.emit(
                PaymentCaptureFailed(
                    failure_code=result.failure_code,
                    message=result.message or "The payment could not be captured.",
                    pay_later_until=None,
                    **self._common(payment, run),
                )
            )

    async def _charge_expired_hold(
        self, uow: UnitOfWork, item: SettlementItem, payment: Payment, run: Settlement
    ) -> None:
        """The authorization window passed: charge the saved card off-session; a failure
        (``authentication_required``, a decline) opens a pay-later link for the buyer."""
        await self.limiter.acquire()
        try:
            result, _ = await settle_payment(
                uow,
                payment,
                self.gateway,
                grace_s=self.config.pay_later_grace_s,
                reminder_every_s=self.config.pay_later_reminder_every_s,
                now=datetime.now(UTC),
                correlation_id=run.correlation_id,
                causation_id=run.causation_id,
                max_network_retries=0,
                pay_link_secret=self.config.pay_link_secret,
            )
        except stripe.StripeError as exc:
            if await self._retry_later(uow, item, exc, self.config.max_attempts):
                return
            payment.status = PaymentStatus.CAPTURE_FAILED.value
            payment.failure_code = item.last_error = STRIPE_UNAVAILABLE
            item.status = FAILED
            await uow.emit(
                PaymentCaptureFailed(
                    failure_code=STRIPE_UNAVAILABLE,
                    message="The payment could not be taken; Stripe did not answer.",
                    pay_later_until=None,
                    **self._common(payment, run),
                )
            )
            return
        fee = result.application_fee_cents
        if result.captured and fee is None:
            fee = platform_fee_cents(result.amount_cents, self.config.platform_fee_bps)
        item.status = DONE if result.captured else FAILED
        item.amount_cents = result.amount_cents if result.captured else None
        item.fee_cents = fee if result.captured else None
        item.last_error = None if result.captured else payment.failure_code

    async def _release(
        self,
        uow: UnitOfWork,
        item: SettlementItem,
        payment: Payment | None,
        run: Settlement | None,
    ) -> None:
        """Release the order's hold; retried until Stripe confirms (never given up)."""
        if payment is None:
            item.status = SKIPPED
            return
        status = PaymentStatus(payment.status)
        if status is PaymentStatus.PENDING:
            # Its authorization is still queued or in flight: the authorize lane resolves it
            # first (a cancelled one at once), then this releases what it left, if anything.
            item.last_error = "waiting_for_authorization"
            item.next_attempt_at = func.now() + timedelta(seconds=self.config.retry_base_s)
            return
        if payment.payment_intent_id is None:
            if status in (PaymentStatus.RELEASED, PaymentStatus.FAILED) and await attempted(
                uow, payment.order_id
            ):
                await self._release_unknown_intents(uow, item, payment, run)
                return
            if can_transition(status, PaymentStatus.RELEASED):
                payment.status = PaymentStatus.RELEASED.value
            item.status = SKIPPED  # never reached Stripe: nothing held
            return
        if not can_transition(status, PaymentStatus.RELEASED):
            item.status = SKIPPED
            return
        await self.limiter.acquire()
        try:
            await self.gateway.release(
                payment.payment_intent_id, payment.order_id, max_network_retries=0
            )
        except stripe.StripeError as exc:
            await self._retry_later(uow, item, exc, None)
            return
        QUEUE_ATTEMPTS.labels(RELEASE, "ok").inc()
        payment.status = PaymentStatus.RELEASED.value
        item.status = DONE
        item.last_error = None
        await uow.emit(PaymentReleased(**self._common(payment, run, item)))

    async def _retry_later(
        self, uow: UnitOfWork, item: SettlementItem, exc: Exception, max_attempts: int | None
    ) -> bool:
        """Count a failed attempt; True when the item is scheduled again, False when the
        attempts are used up (``max_attempts``; ``None``: never, e.g. a release)."""
        item.attempts += 1
        status = getattr(exc, "http_status", None)
        item.last_error = f"{type(exc).__name__}{f' {status}' if status else ''}"[:255]
        log.warning(
            "stripe %s attempt %d failed: %s",
            item.kind,
            item.attempts,
            item.last_error,
            extra={"order_id": str(item.order_id)},
        )
        if max_attempts is not None and item.attempts >= max_attempts:
            QUEUE_ATTEMPTS.labels(item.kind, "gave_up").inc()
            return False
        QUEUE_ATTEMPTS.labels(item.kind, "retry").inc()
        delay = exponential(
            item.attempts, self.config.retry_base_s, self.config.retry_max_s, low=0.5
        )
        item.next_attempt_at = func.now() + timedelta(seconds=delay)
        return True

    async def close_finished_runs(self) -> Sequence[uuid.UUID]:
        """Close every running run whose items are all settled, storing its summary."""
        closed: list[uuid.UUID] = []
        async with self.db.unit_of_work() as uow:
            pending = (
                select(SettlementItem.order_id)
                .where(
                    SettlementItem.campaign_id == Settlement.campaign_id,
                    SettlementItem.kind == Settlement.kind,
                    SettlementItem.status == QUEUED,
                )
                .exists()
            )
            runs = (
                await uow.session.scalars(
                    select(Settlement)
                    .where(Settlement.status == RUNNING, ~pending)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for run in runs:
                summary = await item_totals(uow, run.campaign_id, run.kind)
                run.items = summary["items"]
                run.succeeded = summary["succeeded"]
                run.failed = summary["failed"]
                run.gross_cents = summary["gross_cents"]
                run.fee_cents = summary["fee_cents"]
                run.net_cents = summary["gross_cents"] - summary["fee_cents"]
                run.currency = summary["currency"]
                run.status = SETTLED
                run.finished_at = func.now()
                closed.append(run.campaign_id)
                log.info(
                    "campaign %s run done: %d ok, %d failed",
                    run.kind,
                    run.succeeded,
                    run.failed,
                    extra={"campaign_id": str(run.campaign_id)},
                )
        return closed


async def settlement_worker(
    db: Database,
    gateway: SettlementGateway,
    limiter: PgRateLimiter,
    settings: Settings,
    tracing: Tracing,
) -> None:
    """The worker of every instance: drains the queue until shutdown."""
    config = WorkerConfig.from_settings(settings)
    await SettlementWorker(db, gateway, limiter, config, tracing).run()
