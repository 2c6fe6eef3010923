"""Delivery workers: claim due ``deliveries`` rows, send them, record the outcome.

The queue is the table. A worker claims a batch with ``FOR UPDATE SKIP LOCKED`` and stamps
it with a lease (``claimed_by``, ``lease_until``), so any number of workers in any number of
instances share it without taking the same row. Before each send the worker makes sure it
still holds the row's lease (past the first half of it, by renewing it in the database), so
a row whose lease ran out (its worker crashed) is sent by exactly one other worker. After
the provider accepts, the row is marked ``sent`` and ``NotificationSent`` is staged in the
outbox, in one transaction shared with every other send that finished meanwhile (a group
commit: one transaction per wave of sends, not one per message; issue 15).

The one window left: the provider accepted and the process died before that commit. The
lease runs out and the message is sent again with the same Message-ID (and, with Resend,
the same idempotency key, which Resend deduplicates). A crash anywhere else resends nothing
that was recorded and loses nothing that was not.

Transient provider errors, and unexpected errors while preparing or sending a message (a
bug, a template that cannot render), are retried with exponential backoff
(``next_attempt_at``) up to ``delivery_max_attempts``; permanent ones and exhausted retries
end as ``failed`` with a code-only ``last_error``, a log line and
``dropwave_notifications_deliveries_total{outcome="failed"}``. Opted-out addresses end as
``skipped``. Contact data is read from the read models at send time and never logged.
"""

import asyncio
import functools
import logging
import time
import uuid
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from dropwave_contracts.events import NotificationSent
from dropwave_runtime.backoff import exponential
from dropwave_runtime.db import Database
from dropwave_runtime.observability import current_trace_headers
from dropwave_runtime.rate_limit import RateLimiter, Reservation
from prometheus_client import Counter
from sqlalchemy import ARRAY, TEXT, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.exc import SQLAlchemyError

from .domain import (
    address_digest,
    format_money,
    order_page_url,
    pay_later_url,
    unsubscribe_token,
)
from .mailer import (
    DeliveryError,
    Mailer,
    PermanentDeliveryError,
    TransientDeliveryError,
    compose,
)
from .messages import PAY_LATER_TEMPLATES
from .models import Buyer, CampaignInfo, CreatorContact, Delivery, OptOut
from .sms import SmsMessage, SmsSender
from .templates import render, render_sms

log = logging.getLogger(__name__)

DELIVERIES = Counter(
    "dropwave_notifications_deliveries_total",
    "Finished delivery attempts by channel and outcome (sent; retry: tried again later; "
    "failed: refused, or given up after DELIVERY_MAX_ATTEMPTS; skipped: opted out)",
    ["channel", "outcome"],
)

_CLAIM = text(
    """
    WITH due AS (
        SELECT id FROM deliveries
        WHERE status = 'pending' AND next_attempt_at <= now()
          AND (lease_until IS NULL OR lease_until < now())
        ORDER BY next_attempt_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE deliveries d
    SET claimed_by = :worker, lease_until = now() + make_interval(secs => :lease),
        attempts = d.attempts + 1
    FROM due WHERE d.id = due.id
    RETURNING d.id, d.source_event_id, d.campaign_id, d.recipient_kind, d.recipient_ref,
              d.order_id, d.channel, d.template, d.context, d.correlation_id, d.attempts
    """
)

_MARK_SENT = text(
    """
    UPDATE deliveries d
    SET status = 'sent', sent_at = now(), lease_until = NULL, last_error = NULL,
        provider_message_id = u.provider_id
    FROM unnest(:ids, :provider_ids) AS u(id, provider_id)
    WHERE d.id = u.id AND d.status = 'pending'
    RETURNING d.id
    """
).bindparams(
    bindparam("ids", type_=ARRAY(PG_UUID(as_uuid=True))),
    bindparam("provider_ids", type_=ARRAY(TEXT)),
)

_RENEW = text(
    """
    UPDATE deliveries
    SET lease_until = now() + make_interval(secs => :lease)
    WHERE id = :id AND claimed_by = :worker AND status = 'pending'
    RETURNING id
    """
)


@dataclass
class WorkerConfig:
    public_base_url: str
    link_secret: bytes
    pay_later_url_template: str
    concurrency: int = 16
    batch_size: int = 200
    lease_s: float = 120.0
    poll_interval_s: float = 0.2
    record_gather_s: float = 0.05
    """How long sent marks gather before their transaction (unless a full wave is there)."""
    max_attempts: int = 8
    backoff_base_s: float = 2.0
    backoff_max_s: float = 600.0


@dataclass
class Job:
    id: uuid.UUID
    source_event_id: uuid.UUID
    campaign_id: uuid.UUID
    recipient_kind: str
    recipient_ref: str
    order_id: uuid.UUID | None
    channel: str
    template: str
    context: dict[str, Any]
    correlation_id: str
    attempts: int
    """This attempt's number (counted when claimed)."""
    claimed_at: float
    """``time.monotonic()`` just before the claim was sent: the lease runs at least
    ``lease_s`` from here."""
    address: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    slots: Reservation | None = None
    """Its batch's reserved slots of its channel's shared budget (``_reserve``)."""


@dataclass
class _Sent:
    job: Job
    provider_id: str | None
    trace_headers: dict[str, str]
    done: "asyncio.Future[None]"


def _notification_sent(job: Job) -> NotificationSent:
    return NotificationSent(
        producer="notifications",
        correlation_id=job.correlation_id or str(job.source_event_id),
        causation_id=str(job.source_event_id),
        campaign_id=job.campaign_id,
        notification_id=job.id,
        source_event_id=job.source_event_id,
        channel="sms" if job.channel == "sms" else "email",
        template=job.template,
        recipient_kind="creator" if job.recipient_kind == "creator" else "buyer",
    )


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        config: WorkerConfig,
        mailer: Mailer,
        sms: SmsSender | None,
        *,
        email_limiter: RateLimiter,
        sms_limiter: RateLimiter,
        on_sent: Callable[[uuid.UUID], None] | None = None,
    ) -> None:
        self.db = db
        self.config = config
        self.mailer = mailer
        self.sms = sms
        self.email_limiter = email_limiter
        self.sms_limiter = sms_limiter
        self.worker_id = uuid.uuid4()
        self.on_sent = on_sent
        self._semaphore = asyncio.Semaphore(config.concurrency)
        self._sent: list[_Sent] = []
        """Sends the provider accepted, waiting for the next group commit."""
        self._recorder: asyncio.Task[None] | None = None

    # -- the loop --------------------------------------------------------------------------

    async def run(self) -> None:
        """Forever: send what is due, then sleep a poll interval. Stopped, it still records
        the sends already made (a send left unrecorded is sent again after its lease)."""
        try:
            while True:
                try:
                    if await self._pipeline() == 0:
                        await asyncio.sleep(self.config.poll_interval_s)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("delivery worker round failed")
                    await asyncio.sleep(self.config.poll_interval_s * 5)
        finally:
            await asyncio.shield(self.recorded())

    async def drain(self) -> int:
        """Send everything due now (tests, the benchmark); returns how many were handled."""
        total = await self._pipeline()
        await self.recorded()
        return total

    async def _pipeline(self) -> int:
        """Batch after batch until one claims nothing; returns how many jobs were claimed.

        The next batch is claimed once the current one is down to its last ``concurrency``
        sends, so the claim never leaves connections idle (one batch after another cost
        ~10 % of the fan-out's throughput; issue 15). Sends stay bounded by the one
        semaphore, and the rows still in flight are leased: no claim takes them."""
        total = 0
        running: list[asyncio.Task[int]] = []
        failed: BaseException | None = None
        try:
            while failed is None:
                tail = asyncio.Event()
                batch = asyncio.create_task(self._run_batch(tail))
                running.append(batch)
                waiting = asyncio.create_task(tail.wait())
                try:
                    await asyncio.wait([batch, waiting], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiting.cancel()
                for done in [b for b in running if b.done()]:  # a long run keeps no list
                    running.remove(done)
                    if (error := done.exception()) is not None:
                        failed = error
                    else:
                        total += done.result()
                if batch.done() and batch.exception() is None and batch.result() == 0:
                    break
        except BaseException:  # cancelled: stop what is in flight
            for b in running:
                b.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            raise
        # The batches still sending finish (a failed claim stops no send under way).
        for result in await asyncio.gather(*running, return_exceptions=True):
            if isinstance(result, BaseException):
                failed = failed or result
            else:
                total += result
        if failed is not None:
            raise failed
        return total

    async def recorded(self) -> None:
        """Return once every send made so far is recorded (or its record failed)."""
        while self._recorder is not None and not self._recorder.done():
            await asyncio.wait([self._recorder])

    async def run_once(self) -> int:
        """Claim one batch and send it; returns how many jobs it claimed (0: none due)."""
        return await self._run_batch()

    async def _run_batch(self, tail: asyncio.Event | None = None) -> int:
        """``run_once``; ``tail`` is set once at most ``concurrency`` of its sends are left
        (at once when it claimed no more than that, nothing included)."""
        jobs = await self._claim()
        left = len(jobs)

        def one_done(_: object) -> None:
            nonlocal left
            left -= 1
            if tail is not None and left <= self.config.concurrency:
                tail.set()

        tasks = []
        if jobs:
            slots = await self._reserve(jobs)
            for job in jobs:
                job.slots = slots.get(job.channel)
            tasks = [asyncio.create_task(self._guarded(job)) for job in jobs]
            for task in tasks:
                task.add_done_callback(one_done)
        if tail is not None and left <= self.config.concurrency:
            tail.set()
        await asyncio.gather(*tasks)
        return len(jobs)

    # -- claiming --------------------------------------------------------------------------

    async def _claim(self) -> list[Job]:
        claimed_at = time.monotonic()
        async with self.db.sessions() as session, session.begin():
            rows = (
                await session.execute(
                    _CLAIM,
                    {
                        "limit": self.config.batch_size,
                        "worker": self.worker_id,
                        "lease": self.config.lease_s,
                    },
                )
            ).all()
            jobs = [
                Job(
                    id=r.id,
                    source_event_id=r.source_event_id,
                    campaign_id=r.campaign_id,
                    recipient_kind=r.recipient_kind,
                    recipient_ref=r.recipient_ref,
                    order_id=r.order_id,
                    channel=r.channel,
                    template=r.template,
                    context=dict(r.context or {}),
                    correlation_id=r.correlation_id,
                    attempts=r.attempts,
                    claimed_at=claimed_at,
                )
                for r in rows
            ]
            if not jobs:
                return []
            order_ids = [j.order_id for j in jobs if j.order_id is not None]
            buyers = {
                b.order_id: b
                for b in await session.scalars(select(Buyer).where(Buyer.order_id.in_(order_ids)))
            }
            campaign_ids = {j.campaign_id for j in jobs if j.recipient_kind == "creator"}
            creators = {
                c.campaign_id: c
                for c in await session.scalars(
                    select(CampaignInfo).where(CampaignInfo.campaign_id.in_(campaign_ids))
                )
            }
            creator_ids = {j.recipient_ref for j in jobs if j.recipient_kind == "creator"}
            contacts = {
                c.creator_id: c
                for c in await session.scalars(
                    select(CreatorContact).where(CreatorContact.creator_id.in_(creator_ids))
                )
            }
            for job in jobs:
                if job.recipient_kind == "buyer" and job.order_id in buyers:
                    b = buyers[job.order_id]
                    job.address = b.email if job.channel == "email" else b.phone
                    job.extra = {
                        "buyer_number": b.buyer_number,
                        "amount": format_money(b.amount_cents, b.currency),
                    }
                elif job.recipient_kind == "creator" and job.recipient_ref in contacts:
                    # Their settings as they are now: a changed address is used at once, a
                    # channel they turned off since is skipped.
                    contact = contacts[job.recipient_ref]
                    job.address = contact.email if job.channel == "email" else contact.phone
                    if job.channel not in contact.milestone_channels:
                        job.extra["opted_out"] = True
                elif job.recipient_kind == "creator" and job.campaign_id in creators:
                    job.address = creators[job.campaign_id].creator_email
            digests = {address_digest(j.channel, j.address) for j in jobs if j.address}
            opted_out = set(
                await session.scalars(
                    select(OptOut.address_sha256).where(OptOut.address_sha256.in_(digests))
                )
            )
            for job in jobs:
                if job.address and address_digest(job.channel, job.address) in opted_out:
                    job.extra["opted_out"] = True
            return jobs

    async def _reserve(self, jobs: list[Job]) -> dict[str, Reservation]:
        """The batch's slots of each provider's shared budget, one round trip per channel
        for the jobs that will send (a round trip per message was a fifth of the worker's
        CPU; issue 15). Unused slots are never given back: they only slow later sends. If
        the limiter cannot be reached, each send asks for its own slot, as before."""
        wanted = Tally(j.channel for j in jobs if j.address and not j.extra.get("opted_out"))
        slots: dict[str, Reservation] = {}
        for channel, n in wanted.items():
            try:
                slots[channel] = await self._limiter(channel).reserve_block(n)
            except (SQLAlchemyError, OSError) as exc:
                log.warning(
                    "rate limiter unreachable; each send asks for its own slot",
                    extra={"channel": channel, "error_kind": type(exc).__name__},
                )
        return slots

    def _limiter(self, channel: str) -> RateLimiter:
        return self.email_limiter if channel == "email" else self.sms_limiter

    # -- one job ---------------------------------------------------------------------------

    async def _guarded(self, job: Job) -> None:
        """One job. Its send holds one of the ``concurrency`` slots; the record of the send
        (grouped with others', ``_mark_sent``) is not waited for: the batch ends with its
        last send, and the next claim never picks a sent row (its lease still holds)."""
        try:
            async with self._semaphore:
                marked = await self._process(job)
            if marked is not None:
                marked.add_done_callback(functools.partial(self._recorded_one, job))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not stop the batch; the lease retries it
            log.exception(
                "delivery failed unexpectedly",
                extra={"delivery_id": str(job.id), "error_kind": type(exc).__name__},
            )

    def _recorded_one(self, job: Job, marked: asyncio.Future[None]) -> None:
        ids = {"delivery_id": str(job.id), "template": job.template, "channel": job.channel}
        if marked.cancelled() or marked.exception() is not None:
            error = "cancelled" if marked.cancelled() else type(marked.exception()).__name__
            # Sent, not recorded: its lease runs out and it is sent again, same Message-ID.
            log.warning("sent notification not recorded", extra={**ids, "error_kind": error})
            return
        DELIVERIES.labels(job.channel, "sent").inc()
        if self.on_sent is not None:
            self.on_sent(job.id)
        log.info("notification sent", extra=ids)

    async def _process(self, job: Job) -> asyncio.Future[None] | None:
        """Send ``job`` (or settle it unsent); once the provider accepted it, the future of
        its mark's commit (``_mark_sent``)."""
        ids = {"delivery_id": str(job.id), "template": job.template, "channel": job.channel}
        if job.extra.get("opted_out"):
            await self._finish(job, "skipped", "opted out")
            log.info("notification skipped: opted out", extra=ids)
            return None
        if not job.address:
            await self._finish(job, "failed", "no address for the recipient")
            log.warning("notification without address", extra=ids)
            return None
        if not await self._holds_lease(job):
            return None  # the lease ran out and another worker has it (or it is done)
        attempts = job.attempts
        try:
            provider_id = await self._send(job)
        except PermanentDeliveryError as exc:
            await self._finish(job, "failed", str(exc))
            log.warning("notification refused", extra={**ids, "error": str(exc)})
            return None
        except DeliveryError as exc:
            await self._retry_or_fail(job, attempts, str(exc))
            return None
        except Exception as exc:
            # A bug or bad data: counted as an attempt like a transient error, so the job
            # gives up after DELIVERY_MAX_ATTEMPTS instead of coming back with every lease.
            log.exception("delivery failed unexpectedly", extra=ids)
            await self._retry_or_fail(job, attempts, f"unexpected error: {type(exc).__name__}")
            return None
        return self._mark_sent(job, provider_id)

    async def _holds_lease(self, job: Job) -> bool:
        """Whether this worker may send ``job`` now. Within the first half of the lease it
        certainly may: no other worker takes a row before its lease ends, and the send has
        the other half (``lease_s`` must stay above twice the slowest send). Later, the lease
        is renewed in the database, which also tells whether another worker took the row.
        Most sends are in the first half, so they cost no transaction here (issue 15)."""
        if time.monotonic() - job.claimed_at < self.config.lease_s / 2:
            return True
        async with self.db.sessions() as session, session.begin():
            held = await session.scalar(
                _RENEW, {"id": job.id, "worker": self.worker_id, "lease": self.config.lease_s}
            )
        if held is not None:
            job.claimed_at = time.monotonic()
        return held is not None

    def _context(self, job: Job) -> dict[str, Any]:
        context = {**job.extra, **job.context}
        context.pop("opted_out", None)
        token = context.pop("pay_token", None)
        if job.template in PAY_LATER_TEMPLATES and job.order_id is not None:
            context["pay_later_url"] = pay_later_url(
                self.config.pay_later_url_template, job.order_id, token
            )
        order_token = context.pop("order_token", None)
        if job.order_id is not None:
            context["order_url"] = order_page_url(
                self.config.public_base_url, job.order_id, order_token
            )
        return context

    async def _send(self, job: Job) -> str | None:
        assert job.address is not None
        context = self._context(job)
        base = self.config.public_base_url.rstrip("/")
        if job.channel == "email":
            token = unsubscribe_token(self.config.link_secret, job.id)
            url = f"{base}/api/v1/notifications/unsubscribe?token={token}"
            message = compose(
                render(job.template, {**context, "unsubscribe_url": url}),
                to=job.address,
                delivery_id=job.id,
                unsubscribe_url=url,
            )
            await self._acquire(job, "email")
            return await self.mailer.send(message)
        if self.sms is None:
            raise PermanentDeliveryError("SMS is not configured")
        await self._acquire(job, "sms")
        return await self.sms.send(
            SmsMessage(
                to=job.address,
                body=render_sms(job.template, context),
                delivery_id=job.id,
                status_callback=f"{base}/api/v1/notifications/twilio/status",
            )
        )

    async def _acquire(self, job: Job, channel: str) -> None:
        """Wait for the provider's shared budget: the batch's next reserved slot, else a slot
        of its own; a limiter that cannot be reached (its row lives in our database) makes
        the send a transient failure, retried later."""
        slots = job.slots
        try:
            if slots:
                await slots.acquire()
            else:
                await self._limiter(channel).acquire()
        except (SQLAlchemyError, OSError) as exc:
            raise TransientDeliveryError(f"rate limiter: {type(exc).__name__}") from None

    def _mark_sent(self, job: Job, provider_id: str | None) -> asyncio.Future[None]:
        """Queue the record of the send (``sent`` and ``NotificationSent``); the future is
        done once it is committed.

        Group commit: one recorder task writes every mark queued so far in one transaction;
        marks arriving while it commits go in the next one. A failed transaction fails each
        of its marks (their leases resend them, with the same Message-ID: the window the
        module docstring names)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sent.append(_Sent(job, provider_id, current_trace_headers(), done))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record_sent())
        return done

    async def _record_sent(self) -> None:
        while self._sent:
            if len(self._sent) < self.config.concurrency:
                # Let a wave gather: nothing waits on it but the record itself (a sent row
                # keeps its lease meanwhile), and a transaction per few sends was a quarter
                # of the fan-out's CPU (issue 15).
                await asyncio.sleep(self.config.record_gather_s)
            batch, self._sent = self._sent, []
            try:
                async with self.db.unit_of_work() as uow:
                    marked = set(
                        (
                            await uow.session.scalars(
                                _MARK_SENT,
                                {
                                    "ids": [s.job.id for s in batch],
                                    "provider_ids": [s.provider_id for s in batch],
                                },
                            )
                        ).all()
                    )
                    recorded = [s for s in batch if s.job.id in marked]
                    await uow.emit_many(
                        [_notification_sent(s.job) for s in recorded],
                        [s.trace_headers for s in recorded],
                    )
            except Exception as exc:
                for s in batch:
                    if not s.done.done():
                        s.done.set_exception(exc)
                continue
            for s in batch:
                if not s.done.done():
                    s.done.set_result(None)

    async def _finish(self, job: Job, status: str, error: str) -> None:
        DELIVERIES.labels(job.channel, status).inc()
        async with self.db.sessions() as session, session.begin():
            await session.execute(
                update(Delivery)
                .where(Delivery.id == job.id, Delivery.status == "pending")
                .values(status=status, last_error=error[:500], lease_until=None)
            )

    async def _retry_or_fail(self, job: Job, attempts: int, error: str) -> None:
        ids = {"delivery_id": str(job.id), "attempt": attempts, "error": error}
        if attempts >= self.config.max_attempts:
            await self._finish(job, "failed", f"gave up after {attempts} attempts: {error}")
            log.error("notification failed for good", extra=ids)
            return
        delay = exponential(
            attempts, self.config.backoff_base_s, self.config.backoff_max_s, low=0.8, high=1.2
        )
        DELIVERIES.labels(job.channel, "retry").inc()
        async with self.db.sessions() as session, session.begin():
            await session.execute(
                update(Delivery)
                .where(Delivery.id == job.id, Delivery.status == "pending")
                .values(
                    last_error=error[:500],
                    lease_until=None,
                    claimed_by=None,
                    next_attempt_at=func.now() + timedelta(seconds=delay),
                )
            )
        log.warning("notification will be retried", extra={**ids, "retry_in_s": round(delay, 2)})
