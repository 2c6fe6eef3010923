"""Consuming events: inbox dedup, bounded retries with backoff, then the dead-letter topic.

A handler runs inside one unit of work together with the inbox record, so a duplicate
delivery has no second effect. A handler that keeps failing is retried a bounded number
of times and then its message is copied to the service's dead-letter topic with the error;
only then is the offset committed, so the partition moves on and nothing is silently lost.
If even the dead-letter publish fails, the exception propagates and the message is
redelivered.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from dropwave_contracts.envelope import Event
from dropwave_contracts.topics import UnknownEventType, dead_letter_topic, parse_event
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from .backoff import exponential
from .db import Database, UnitOfWork, database_unavailable
from .metrics import EVENTS_CONSUMED, EVENTS_DEAD_LETTERED, HANDLER_SECONDS
from .observability import correlation_id_var
from .tracing import Tracing

log = logging.getLogger(__name__)

Handler = Callable[[Event, UnitOfWork], Awaitable[None]]


@dataclass(frozen=True)
class Batched:
    """An event type handled in runs: consecutive events of it (different ordering keys, one
    partition key) polled together go to ``handler`` as one list (or, with ``each``, to a
    per-event handler one after another) in one unit of work, with one inbox claim and one
    commit for all of them. For the per-order floods of a viral drop (``OrderPlaced``,
    ``OrderConfirmed``, ``PaymentCaptured``), where a transaction per event is what a
    consumer spends its time on. If a run fails, its events are handled one at a time, each
    with its own retries and dead letter, so one bad event does not fail the others."""

    handler: Callable[..., Awaitable[None]]
    max_events: int = 500
    each: bool = False
    """``handler`` is a per-event one, called for each event of the run in turn, all in
    the run's one unit of work: the inbox claim and the commit (and the row locks a
    campaign's events take) are shared. For a handler that decides per event (counting,
    tipping) where the flood, not the statements, is the cost."""

    async def one(self, event: Event, uow: UnitOfWork) -> None:
        """Handle a single event (a run of one): how a failed run's events are retried."""
        if self.each:
            await self.handler(event, uow)
        else:
            await self.handler([event], uow)


Parsed = Event | UnknownEventType | str
"""A record's value read: the event, a type this build doesn't know, or why it's unreadable."""


@dataclass(frozen=True)
class Record:
    """The parts of a Kafka record the consumer needs (broker-independent)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Sequence[tuple[str, bytes]]

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v.decode(errors="replace")
        return None


@dataclass
class _Lane:
    """One partition key's place in a batch: its last barrier, and the last task of each
    ordering key since."""

    barrier: "asyncio.Task[None] | None" = None
    since_barrier: dict[str, "asyncio.Task[None]"] = field(default_factory=dict)

    def barrier_list(self) -> list["asyncio.Task[None]"]:
        return [self.barrier] if self.barrier else []

    def after(self, keys: Sequence[str]) -> list["asyncio.Task[None]"]:
        """What a unit with these ordering keys waits for: each key's last task since the
        barrier, and the barrier for a key not seen since."""
        tasks = {self.since_barrier.get(k) for k in keys}
        if None in tasks:
            tasks.discard(None)
            tasks.update(self.barrier_list())
        return [t for t in tasks if t is not None]


@dataclass
class _Run:
    """Consecutive events of one batched type in one lane, each of its own ordering key."""

    handler: Batched
    items: list[tuple[Record, Event]] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)

    def takes(self, event: Event, handler: Batched) -> bool:
        return (
            handler is self.handler
            and event.event_type == self.items[0][1].event_type
            and event.ordering_key not in self.keys
            and len(self.items) < handler.max_events
        )


class DeadLetterSink(Protocol):
    async def dead_letter(
        self, topic: str, key: bytes | None, value: bytes, headers: Mapping[str, str]
    ) -> None: ...


class EventConsumer:
    def __init__(
        self,
        service: str,
        db: Database,
        handlers: Mapping[type[Event], Handler | Batched],
        sink: DeadLetterSink,
        max_attempts: int = 4,
        backoff_base_s: float = 0.2,
        backoff_max_s: float = 5.0,
        tracing: Tracing | None = None,
    ) -> None:
        self.service = service
        self.db = db
        self.handlers = {cls.model_fields["event_type"].default: h for cls, h in handlers.items()}
        self.sink = sink
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.dead_letter_topic = dead_letter_topic(service).name
        self.tracing = tracing or Tracing(service, export=False)

    async def handle_batch(self, records: Sequence[Record], concurrency: int) -> None:
        """Handle a polled batch: concurrently where the contracts allow, in order where not.

        Records of one partition key run in order except that events with different
        ordering keys (different orders of one campaign) run side by side; an event whose
        ordering key is its partition key (a campaign-wide event) is a barrier. Consecutive
        events of a :class:`Batched` type form runs, each handled as one unit. Events this
        service does not handle have no effect and wait for nothing. At most `concurrency`
        units run at once. Returns when every record is handled; if one raised (its
        dead-letter publish failed), re-raises so the batch is redelivered (the inbox
        absorbs what was already done).
        """
        slots = asyncio.Semaphore(concurrency)
        lanes: dict[tuple[str, int, bytes | None], _Lane] = {}
        runs: dict[tuple[str, int, bytes | None], _Run] = {}
        tasks: list[asyncio.Task[None]] = []

        def close_run(lane_key: tuple[str, int, bytes | None]) -> None:
            if (run := runs.pop(lane_key, None)) is None:
                return
            lane = lanes[lane_key]
            keys = [str(event.ordering_key) for _, event in run.items]
            task = self._spawn_run(run, lane.after(keys), slots)
            lane.since_barrier.update(dict.fromkeys(keys, task))
            tasks.append(task)

        for record in records:
            event = self._parse(record)
            if self._without_effect(record, event):
                continue
            lane_key = (record.topic, record.partition, record.key)
            lane = lanes.setdefault(lane_key, _Lane())
            ordering_key = event.ordering_key if isinstance(event, Event) else None
            if not isinstance(event, Event) or ordering_key is None or ordering_key == event.key:
                close_run(lane_key)
                after = [*lane.since_barrier.values()] or lane.barrier_list()
                task = self._spawn(record, event, after, slots)
                lane.barrier, lane.since_barrier = task, {}
            elif isinstance(handler := self.handlers[event.event_type], Batched):
                run = runs.get(lane_key)
                if run is None or not run.takes(event, handler):
                    close_run(lane_key)
                    run = runs[lane_key] = _Run(handler)
                run.items.append((record, event))
                run.keys.add(ordering_key)
                continue
            else:
                close_run(lane_key)
                after = lane.after([ordering_key])
                task = lane.since_barrier[ordering_key] = self._spawn(record, event, after, slots)
            tasks.append(task)
        for lane_key in list(runs):
            close_run(lane_key)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def _spawn(
        self,
        record: Record,
        event: Parsed,
        after: list[asyncio.Task[None]],
        slots: asyncio.Semaphore,
    ) -> asyncio.Task[None]:
        async def run() -> None:
            for task in after:
                await asyncio.shield(task)  # its failure fails this one: the batch is redone
            async with slots:
                await self._handle_parsed(record, event)

        return asyncio.create_task(run())

    def _spawn_run(
        self, run: _Run, after: list[asyncio.Task[None]], slots: asyncio.Semaphore
    ) -> asyncio.Task[None]:
        if len(run.items) == 1:
            return self._spawn(*run.items[0], after, slots)

        async def go() -> None:
            for task in after:
                await asyncio.shield(task)
            async with slots:
                await self._handle_run(run)

        return asyncio.create_task(go())

    async def handle(self, record: Record) -> None:
        await self._handle_parsed(record, self._parse(record))

    @staticmethod
    def _parse(record: Record) -> Parsed:
        """The event; an event type newer than this build; or why it can't be read."""
        try:
            return parse_event(record.value)
        except UnknownEventType as exc:
            return exc
        except (ValueError, ValidationError) as exc:
            return f"unparseable: {exc}"

    def _without_effect(self, record: Record, event: Parsed) -> bool:
        """Count an event this service has nothing to do for; True if it was one."""
        if isinstance(event, UnknownEventType):
            # A type added to the topic after this build (a minor contract change): this
            # service has no handler for it by definition, so there is nothing to do.
            EVENTS_CONSUMED.labels(self.service, event.event_type[:64], "unknown_type").inc()
            log.warning(
                "event type unknown to this build: not handled",
                extra={"event_type": event.event_type[:64], "topic": record.topic},
            )
            return True
        if isinstance(event, Event) and event.event_type not in self.handlers:
            EVENTS_CONSUMED.labels(self.service, event.event_type, "ignored").inc()
            return True
        return False

    async def _handle_parsed(self, record: Record, event: Parsed) -> None:
        if self._without_effect(record, event):
            return
        if isinstance(event, str):
            await self._dead_letter(record, event, attempts=0)
            return
        assert isinstance(event, Event)
        handler = self.handlers[event.event_type]
        if isinstance(handler, Batched):
            handler = handler.one
        correlation_id_var.set(event.correlation_id)
        with self.tracing.span(
            f"process {event.event_type}",
            record.header("traceparent"),
            SpanKind.CONSUMER,
            {
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": record.topic,
                "messaging.consumer.group.name": self.service,
                "messaging.destination.partition.id": str(record.partition),
                "messaging.kafka.offset": record.offset,
            },
        ):
            await self._handle_with_retries(record, event, handler)

    async def _handle_with_retries(self, record: Record, event: Event, handler: Handler) -> None:
        attempt, outages = 1, 0
        while attempt <= self.max_attempts:
            started = time.perf_counter()
            try:
                outcome = await self._apply(event, handler)
            except Exception as exc:
                if database_unavailable(exc):
                    outages += 1
                    await self._wait_for_database(outages, event.event_type)
                    continue
                log.warning(
                    "handler failed",
                    exc_info=True,
                    extra={
                        "event_type": event.event_type,
                        "event_id": str(event.event_id),
                        "attempt": attempt,
                    },
                )
                if attempt == self.max_attempts:
                    await self._dead_letter(record, f"{type(exc).__name__}: {exc}", attempt)
                    return
                await asyncio.sleep(exponential(attempt, self.backoff_base_s, self.backoff_max_s))
                attempt += 1
            else:
                HANDLER_SECONDS.labels(self.service, event.event_type).observe(
                    time.perf_counter() - started
                )
                EVENTS_CONSUMED.labels(self.service, event.event_type, outcome).inc()
                return

    async def _wait_for_database(self, outages: int, event_type: str) -> None:
        """Not the event's fault: wait for the database without using up the attempts (a
        dead letter per event of an outage would be replayed by hand); the partition
        waits, as every event of it would fail alike."""
        outage_s = exponential(outages, self.backoff_base_s, self.backoff_max_s)
        log.warning(
            "database unavailable; handler retried when it answers",
            extra={"event_type": event_type, "retry_in_s": outage_s},
        )
        await asyncio.sleep(outage_s)

    async def _handle_run(self, run: _Run) -> None:
        """A run in one unit of work: one inbox claim, one handler call, one commit. A
        database outage waits as for one event; any other failure hands each event to the
        one-at-a-time path (its own retries and dead letter)."""
        first, event = run.items[0]
        correlation_id_var.set(None)  # many events: the logs carry their ids instead
        with self.tracing.span(
            f"process {event.event_type}",
            first.header("traceparent"),
            SpanKind.CONSUMER,
            {
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": first.topic,
                "messaging.consumer.group.name": self.service,
                "messaging.destination.partition.id": str(first.partition),
                "messaging.batch.message_count": len(run.items),
            },
        ):
            outages = 0
            while True:
                started = time.perf_counter()
                try:
                    handled = await self._apply_run(run)
                except Exception as exc:
                    if not database_unavailable(exc):
                        log.warning(
                            "run of events failed; each is handled on its own",
                            exc_info=True,
                            extra={"event_type": event.event_type, "events": len(run.items)},
                        )
                        break
                    outages += 1
                    await self._wait_for_database(outages, event.event_type)
                    continue
                each = (time.perf_counter() - started) / len(run.items)
                for _, e in run.items:
                    HANDLER_SECONDS.labels(self.service, e.event_type).observe(each)
                    outcome = "handled" if e.event_id in handled else "duplicate"
                    EVENTS_CONSUMED.labels(self.service, e.event_type, outcome).inc()
                return
        for record, e in run.items:
            await self._handle_parsed(record, e)

    async def _apply_run(self, run: _Run) -> set[Any]:
        """The run's events not seen before, handled; their ids."""
        async with self.db.unit_of_work() as uow:
            fresh = await uow.claim_many(self.service, [e.event_id for _, e in run.items])
            events = [e for _, e in run.items if e.event_id in fresh]
            if run.handler.each:
                for event in events:
                    await run.handler.handler(event, uow)
            elif events:
                await run.handler.handler(events, uow)
            return fresh

    async def _apply(self, event: Event, handler: Handler) -> str:
        async with self.db.unit_of_work() as uow:
            if not await uow.claim(self.service, event.event_id):
                return "duplicate"
            await handler(event, uow)
            return "handled"

    async def _dead_letter(self, record: Record, error: str, attempts: int) -> None:
        headers = {k: v.decode(errors="replace") for k, v in record.headers}
        headers.update(
            {
                "dlq-consumer": self.service,
                "dlq-original-topic": record.topic,
                "dlq-original-partition": str(record.partition),
                "dlq-original-offset": str(record.offset),
                "dlq-attempts": str(attempts),
                "dlq-error": error[:1000],
                "dlq-at": str(time.time()),
            }
        )
        await self.sink.dead_letter(self.dead_letter_topic, record.key, record.value, headers)
        EVENTS_DEAD_LETTERED.labels(self.service).inc()
        log.error(
            "message dead-lettered",
            extra={
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "error_kind": error.split(":", 1)[0],
            },
        )
