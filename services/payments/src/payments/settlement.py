"""Settlement and release: a durable work queue in payments' database, drained by a worker.

* The campaign's outcome (``CampaignSucceeded``: capture; ``CampaignFailed`` /
  ``CampaignCancelled``: release) only *enqueues*: one ``settlements`` row for the run and
  one ``settlement_items`` row per payment, in the consumer's unit of work. Nothing lives in
  memory, so a crash loses nothing.
* Every instance runs :class:`SettlementWorker` lanes. A lane claims one due item with
  ``FOR UPDATE SKIP LOCKED`` and keeps that transaction open across the Stripe call: the row
  lock *is* the lease. The payment's new status, the item's outcome and the event
  (``PaymentCaptured`` / ``PaymentCaptureFailed`` / ``PaymentReleased``, outbox) commit
  together; a crash before the commit rolls the claim back and another lane takes the item
  again, calling Stripe with the *same* idempotency key (``capture:<order>``), so Stripe
  replays its first answer instead of capturing twice.
* Every call (first attempt or retry) first takes a slot from the one rate limiter shared by
  all instances (:mod:`.rate_limit`); the SDK's own retries are off for these calls so none
  bypasses the limiter. 429s, 5xx, timeouts and connection errors are retried with backoff
  up to ``settlement_max_attempts``; then a capture is reported failed (a late webhook of a
  capture that did happen still moves it to captured) and a release is left to expire.
* Housekeeping: payments that become eligible after the run started (an authorization
  finishing late) are swept into the run, and a run with no queued item left is closed with
  its summary (gross, platform fee, net to the creator, failures).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

import stripe
from dropwave_contracts.envelope import Event
from dropwave_contracts.events import (
    CampaignCancelled,
    CampaignFailed,
    CampaignSucceeded,
    PaymentCaptured,
    PaymentCaptureFailed,
    PaymentReleased,
)
from dropwave_runtime import cli
from dropwave_runtime.db import Database, UnitOfWork
from dropwave_runtime.rate_limit import PgRateLimiter
from sqlalchemy import func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from . import payment_window
from .domain import PaymentStatus, can_transition, platform_fee_cents
from .models import Payment, Settlement, SettlementItem
from .rules import hold_expired
from .settings import Settings
from .stripe_gateway import CaptureResult, StripeGateway

log = logging.getLogger(__name__)

PRODUCER = "payments"
CAPTURE: Final = "capture"
RELEASE: Final = "release"

QUEUED: Final = "queued"
DONE: Final = "done"
FAILED: Final = "failed"
SKIPPED: Final = "skipped"
"""Item statuses: ``done`` (captured / released), ``failed`` (given up), ``skipped`` (the
payment no longer needed it, e.g. the buyer cancelled first)."""

RUNNING: Final = "running"
SETTLED: Final = "done"

ELIGIBLE: Final[dict[str, tuple[str, ...]]] = {
    CAPTURE: (PaymentStatus.AUTHORIZED.value,),
    RELEASE: (
        PaymentStatus.PENDING.value,
        PaymentStatus.REQUIRES_ACTION.value,
        PaymentStatus.AUTHORIZED.value,
    ),
}
"""Payment statuses a run enqueues."""

SWEEP_WINDOW: Final = timedelta(days=8)
"""Runs younger than this take in late arrivals (an authorization holds at most 7 days)."""


class SettlementGateway(Protocol):
    async def capture(
        self, payment_intent_id: str, order_id: uuid.UUID, *, max_network_retries: int | None
    ) -> CaptureResult: ...

    async def release(
        self, payment_intent_id: str, order_id: uuid.UUID, *, max_network_retries: int | None
    ) -> None: ...


# --- the campaign's outcome: enqueue only -----------------------------------------------


async def start_run(uow: UnitOfWork, event: Event, campaign_id: uuid.UUID, kind: str) -> int:
    """Record the run and enqueue its items; returns how many items were enqueued.

    Idempotent (a redelivered outcome enqueues nothing new). A campaign has one outcome, so
    a second run of another kind for the same campaign is ignored.
    """
    await uow.session.execute(
        pg_insert(Settlement)
        .values(
            campaign_id=campaign_id,
            kind=kind,
            status=RUNNING,
            correlation_id=event.correlation_id,
            causation_id=str(event.event_id),
        )
        .on_conflict_do_nothing(index_elements=[Settlement.campaign_id])
    )
    run_kind = await uow.session.scalar(
        select(Settlement.kind).where(Settlement.campaign_id == campaign_id)
    )
    if run_kind != kind:
        log.warning(
            "campaign already has a %s run; %s ignored",
            run_kind,
            kind,
            extra={"campaign_id": str(campaign_id)},
        )
        return 0
    return await _enqueue(uow, kind, Payment.campaign_id == campaign_id)


async def _enqueue(uow: UnitOfWork, kind: str, where: Any) -> int:
    """Queue an item for every eligible payment matching ``where`` that has none yet."""
    eligible = select(
        Payment.order_id,
        literal(kind),
        Payment.campaign_id,
        literal(QUEUED),
    ).where(where, Payment.status.in_(ELIGIBLE[kind]))
    result = await uow.session.execute(
        pg_insert(SettlementItem)
        .from_select(["order_id", "kind", "campaign_id", "status"], eligible)
        .on_conflict_do_nothing()
        .returning(SettlementItem.campaign_id)
    )
    rows = result.all()
    campaigns = {row[0] for row in rows}
    if campaigns:
        await uow.session.execute(
            update(Settlement)
            .where(Settlement.campaign_id.in_(campaigns), Settlement.status != RUNNING)
            .values(status=RUNNING, finished_at=None)
        )
    return len(rows)


async def on_campaign_succeeded(event: CampaignSucceeded, uow: UnitOfWork) -> None:
    """The drop happens: capture every authorization (queued; the worker captures)."""
    await start_run(uow, event, event.campaign_id, CAPTURE)


async def on_campaign_failed(event: CampaignFailed, uow: UnitOfWork) -> None:
    """The drop did not happen: release every hold (queued; the worker releases)."""
    await start_run(uow, event, event.campaign_id, RELEASE)


async def on_campaign_cancelled(event: CampaignCancelled, uow: UnitOfWork) -> None:
    """The creator cancelled: release every hold (queued; the worker releases)."""
    await start_run(uow, event, event.campaign_id, RELEASE)


# --- the worker -------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerConfig:
    concurrency: int = 8
    max_attempts: int = 8
    retry_base_s: float = 0.5
    retry_max_s: float = 30.0
    poll_interval_s: float = 0.5
    platform_fee_bps: int = 500
    pay_later_grace_s: float = 7 * 24 * 3600
    pay_later_reminder_every_s: float = 2 * 24 * 3600

    @classmethod
    def from_settings(cls, s: Settings) -> WorkerConfig:
        return cls(
            concurrency=s.settlement_concurrency,
            max_attempts=s.settlement_max_attempts,
            retry_base_s=s.settlement_retry_base_s,
            retry_max_s=s.settlement_retry_max_s,
            poll_interval_s=s.settlement_poll_interval_s,
            platform_fee_bps=s.platform_fee_bps,
            pay_later_grace_s=s.pay_later_grace_s,
            pay_later_reminder_every_s=s.pay_later_reminder_every_s,
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
    ) -> None:
        self.db = db
        self.gateway = gateway
        self.limiter = limiter
        self.config = config or WorkerConfig()
        self._idle = asyncio.Event()

    async def run(self) -> None:
        """Run until cancelled."""
        lanes = [
            asyncio.create_task(self._lane(), name=f"settlement-lane-{i}")
            for i in range(self.config.concurrency)
        ]
        try:
            while True:
                try:
                    await self.housekeeping()
                except Exception:
                    log.exception("settlement housekeeping failed")
                await asyncio.sleep(self.config.poll_interval_s)
        finally:
            for lane in lanes:
                lane.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)

    async def _lane(self) -> None:
        while True:
            try:
                worked = await self.process_one()
            except Exception:
                log.exception("settlement item failed; retrying later")
                worked = False
            if not worked:
                await asyncio.sleep(self.config.poll_interval_s * (0.5 + random.random()))

    async def housekeeping(self) -> None:
        await self.sweep()
        await self.close_finished_runs()

    async def sweep(self) -> int:
        """Queue payments that became eligible after their campaign's run started."""
        recent = Settlement.started_at > func.now() - SWEEP_WINDOW
        total = 0
        async with self.db.unit_of_work() as uow:
            for kind in (CAPTURE, RELEASE):
                runs = select(Settlement.campaign_id).where(Settlement.kind == kind, recent)
                total += await _enqueue(uow, kind, Payment.campaign_id.in_(runs))
        return total

    async def process_one(self) -> bool:
        """Claim one due item and make its Stripe call; False when nothing is due."""
        async with self.db.unit_of_work() as uow:
            item = await uow.session.scalar(
                select(SettlementItem)
                .where(
                    SettlementItem.status == QUEUED,
                    SettlementItem.next_attempt_at <= func.now(),
                )
                .order_by(SettlementItem.next_attempt_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if item is None:
                return False
            payment = await uow.session.scalar(
                select(Payment).where(Payment.order_id == item.order_id).with_for_update()
            )
            run = await uow.session.get(Settlement, item.campaign_id)
            assert run is not None
            if item.kind == CAPTURE:
                await self._capture(uow, item, payment, run)
            else:
                await self._release(uow, item, payment, run)
            return True

    def _common(self, payment: Payment, run: Settlement) -> dict[str, Any]:
        return {
            "producer": PRODUCER,
            "correlation_id": run.correlation_id,
            "causation_id": run.causation_id,
            "campaign_id": payment.campaign_id,
            "order_id": payment.order_id,
            "payment_intent_id": payment.payment_intent_id,
        }

    async def _capture(
        self, uow: UnitOfWork, item: SettlementItem, payment: Payment | None, run: Settlement
    ) -> None:
        if payment is not None and payment.status == PaymentStatus.CAPTURED.value:
            # Captured already (a webhook of an earlier attempt's capture got there first).
            item.status = DONE
            item.amount_cents = payment.amount_cents
            item.fee_cents = platform_fee_cents(payment.amount_cents, self.config.platform_fee_bps)
            return
        if (
            payment is None
            or payment.payment_intent_id is None
            or payment.status != PaymentStatus.AUTHORIZED.value
        ):
            item.status = SKIPPED
            return
        if hold_expired(payment.capture_before, payment.hold_expired, datetime.now(UTC)):
            await self._charge_expired_hold(uow, item, payment, run)
            return
        await self.limiter.acquire()
        try:
            result = await self.gateway.capture(
                payment.payment_intent_id, payment.order_id, max_network_retries=0
            )
        except stripe.StripeError as exc:
            if not await self._retry_later(uow, item, exc):
                result = CaptureResult(
                    captured=False,
                    amount_cents=0,
                    application_fee_cents=None,
                    failure_code="stripe_unavailable",
                    message="The payment could not be captured; Stripe did not answer.",
                )
            else:
                return
        if not result.captured and result.hold_expired:
            # The hold is gone though we had not heard (a lost or late webhook, a
            # capture_before we never learned): charge the saved card off-session instead.
            payment.hold_expired = True
            await self._charge_expired_hold(uow, item, payment, run)
            return
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
        assert isinstance(self.gateway, StripeGateway), "off-session needs the Stripe client"
        await self.limiter.acquire()
        try:
            result, _ = await payment_window.settle_payment(
                uow,
                payment,
                self.gateway,
                grace_s=self.config.pay_later_grace_s,
                reminder_every_s=self.config.pay_later_reminder_every_s,
                now=datetime.now(UTC),
                correlation_id=run.correlation_id,
                causation_id=run.causation_id,
                max_network_retries=0,
            )
        except stripe.StripeError as exc:
            if await self._retry_later(uow, item, exc):
                return
            payment.status = PaymentStatus.CAPTURE_FAILED.value
            payment.failure_code = item.last_error = "stripe_unavailable"
            item.status = FAILED
            await uow.emit(
                PaymentCaptureFailed(
                    failure_code="stripe_unavailable",
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
        self, uow: UnitOfWork, item: SettlementItem, payment: Payment | None, run: Settlement
    ) -> None:
        if payment is None or not can_transition(
            PaymentStatus(payment.status), PaymentStatus.RELEASED
        ):
            item.status = SKIPPED
            return
        if payment.payment_intent_id is not None:
            await self.limiter.acquire()
            try:
                await self.gateway.release(
                    payment.payment_intent_id, payment.order_id, max_network_retries=0
                )
            except stripe.StripeError as exc:
                if not await self._retry_later(uow, item, exc):
                    item.status = FAILED  # the hold expires by itself (7 days at most)
                return
        payment.status = PaymentStatus.RELEASED.value
        item.status = DONE
        if payment.payment_intent_id is not None:
            await uow.emit(PaymentReleased(**self._common(payment, run)))

    async def _retry_later(self, uow: UnitOfWork, item: SettlementItem, exc: Exception) -> bool:
        """Count a failed attempt; True when the item is scheduled again, False when the
        attempts are used up."""
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
        if item.attempts >= self.config.max_attempts:
            return False
        delay = min(self.config.retry_max_s, self.config.retry_base_s * 2 ** (item.attempts - 1))
        delay *= 0.5 + random.random() / 2
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
                summary = await _item_totals(uow, run.campaign_id, run.kind)
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


async def _item_totals(uow: UnitOfWork, campaign_id: uuid.UUID, kind: str) -> dict[str, Any]:
    i = SettlementItem
    row = (
        await uow.session.execute(
            select(
                func.count(),
                func.count().filter(i.status == DONE),
                func.count().filter(i.status == FAILED),
                func.count().filter(i.status == QUEUED),
                func.coalesce(func.sum(i.amount_cents).filter(i.status == DONE), 0),
                func.coalesce(func.sum(i.fee_cents).filter(i.status == DONE), 0),
            ).where(i.campaign_id == campaign_id, i.kind == kind)
        )
    ).one()
    currency = await uow.session.scalar(
        select(func.min(Payment.currency)).where(Payment.campaign_id == campaign_id)
    )
    return {
        "items": row[0],
        "succeeded": row[1],
        "failed": row[2],
        "queued": row[3],
        "gross_cents": int(row[4] or 0),
        "fee_cents": int(row[5] or 0),
        "currency": currency,
    }


async def settlement_summary(db: Database, campaign_id: uuid.UUID) -> dict[str, Any] | None:
    """The campaign's run as stored, with live counts while it is still running."""
    async with db.unit_of_work() as uow:
        run = await uow.session.get(Settlement, campaign_id)
        if run is None:
            return None
        totals = await _item_totals(uow, campaign_id, run.kind)
    gross, fee = totals["gross_cents"], totals["fee_cents"]
    return {
        "campaign_id": str(campaign_id),
        "kind": run.kind,
        "status": run.status,
        "items": totals["items"],
        "succeeded": totals["succeeded"],
        "failed": totals["failed"],
        "queued": totals["queued"],
        "currency": totals["currency"],
        "gross_cents": gross,
        "platform_fee_cents": fee,
        "net_cents": gross - fee,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def _configure_command(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("campaign_id", type=uuid.UUID, help="the campaign's id")


def _settlement_command(args: argparse.Namespace, settings: Settings) -> int:
    async def fetch() -> dict[str, Any] | None:
        db = Database(settings.database_url, "payments", pool_size=1)
        try:
            return await settlement_summary(db, args.campaign_id)
        finally:
            await db.dispose()

    summary = asyncio.run(fetch())
    if summary is None:
        sys.stderr.write("no settlement or release for this campaign\n")
        return 1
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


SETTLEMENT_COMMAND = cli.Command(
    help="print a campaign's settlement (or release) summary as JSON: gross, platform fee, "
    "net to the creator, failures",
    configure=_configure_command,
    handle=_settlement_command,
)
"""``python -m payments settlement <campaign_id>``"""
